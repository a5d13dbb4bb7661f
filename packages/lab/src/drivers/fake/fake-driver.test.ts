import { afterAll } from 'vitest'
import { runDriverContract } from '../contract.ts'
import { FakeDriver, FakeHost } from './fake-driver.ts'

// One host for the suite: a second driver instance sees the first one's sandboxes, as after a restart.
const host = new FakeHost()
runDriverContract('fake', async () => new FakeDriver({ host }), { helloTimeoutMs: 2000 })
afterAll(async () => {
  await new FakeDriver({ host }).teardown()
})
