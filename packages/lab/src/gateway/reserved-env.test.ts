// Names a claim may not set (limits-core.ts) are refused at the API edge, naming the field, and
// the names beside them that callers need still pass.
import { RESERVED_ENV_PROBLEM } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway } from './test-gateway.test-util.ts'

const REFUSED = [
  'LD_PRELOAD', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'PROMPT_COMMAND', 'IFS', 'INFRA_LAB_SESSION_ID', 'INFRA_LAB_ANYTHING',
  'AGENT_TLS_PSK', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'OLDPWD',
]

describe('reserved environment names at the API edge', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: 2 }] })
  })
  afterAll(async () => {
    await gw?.cleanup()
  })
  const post = (body: unknown) =>
    gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify(body) })

  it('refuses each in env and in secrets with 400 validation_failed naming the field, and creates nothing', async () => {
    for (const name of REFUSED) {
      for (const field of ['env', 'secrets']) {
        const res = await post({ user: 'alice', [field]: { OK: '1', [name]: '/tmp/evil.so' } })
        expect(res.statusCode, `${field}.${name}`).toBe(400)
        const { error } = res.json()
        expect(error.code).toBe('validation_failed')
        expect(error.details).toEqual([{ field: `${field}.${name}`, message: RESERVED_ENV_PROBLEM }])
        expect(res.body).not.toContain('/tmp/evil.so')
      }
    }
    expect(await gw.store.listSessions()).toEqual([])
  })

  it('lets PATH, LD_LIBRARY_PATH, NODE_ENV and AWS_* through', async () => {
    const res = await post({ user: 'alice', env: { PATH: '/opt/bin:/usr/bin', LD_LIBRARY_PATH: '/opt/lib', NODE_ENV: 'production' }, secrets: { AWS_REGION: 'eu-west-1', AWS_SECRET_ACCESS_KEY: 'k' } })
    expect(res.statusCode).toBe(201)
  })
})
