// Entry of packages/lab/dist/floor-server.mjs: the transport floor (floor-server.ts) as its own
// process, on 127.0.0.1 and a free port. Prints `listening on <url>`; stops on SIGTERM or SIGINT.
import { buildFloorApp } from './floor-server.ts'

const app = await buildFloorApp()
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.stdout.write(`floor server listening on ${url}\n`)
const stop = () => void app.close().finally(() => process.exit(0))
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
