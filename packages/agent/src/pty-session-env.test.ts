import { describe, expect, it } from 'vitest'
import { warmShellEnv } from './pty-session.ts'

describe("the warm shell's environment", () => {
  it("is the agent's minus the agent's own settings; NODE_EXTRA_CA_CERTS (the sandbox's trust of the egress CA) passes", () => {
    const env = warmShellEnv({
      PATH: '/bin', HTTP_PROXY: 'http://10.88.0.1:3128', NODE_EXTRA_CA_CERTS: '/etc/infra-lab/egress-ca.pem',
      NODE_OPTIONS: '--max-old-space-size=64', NODE_EXTRA_CA_CERTS_X: 'x', INFRA_LAB_PSK: 'k', AWS_REGION: 'r',
    })
    expect(env).toEqual({ PATH: '/bin', HTTP_PROXY: 'http://10.88.0.1:3128', NODE_EXTRA_CA_CERTS: '/etc/infra-lab/egress-ca.pem', HOME: '/tmp' })
  })
})
