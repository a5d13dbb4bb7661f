export { DockerDriver, type ImageStatus } from './docker-driver.ts'
export { DEFAULT_SANDBOX_IMAGE, type DockerDriverOptions } from './options.ts'
