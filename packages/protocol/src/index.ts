export * from './version.ts'
export * from './limits.ts'
export * from './messages.ts'
export * from './frame.ts'
