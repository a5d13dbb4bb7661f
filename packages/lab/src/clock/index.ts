export * from './clock.ts'
export * from './manual-clock.ts'
