import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { ERROR_CODES } from '../../lab/src/gateway/errors.ts'
import { startTestGateway } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { ERROR_CATALOGUE } from '../src/errors.generated.ts'
import { errorClassName, renderApiTypes, renderErrorClasses, renderErrorCodes } from './render-generated.test-util.ts'

// The SDK's types and error classes come from the gateway, never written by hand: these fail
// when the committed files no longer match what the gateway serves (`npm run generate -w
// @infra-lab/sdk` rewrites them).
describe('the SDK generated files', () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 } }] })
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  it("api-types.generated.ts is openapi-typescript's rendering of the gateway's GET /openapi.json", async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    await expect(await renderApiTypes(res.json())).toMatchFileSnapshot('../src/api-types.generated.ts')
  })

  it("errors.generated.ts has one class per code of the gateway's catalogue", async () => {
    await expect(renderErrorClasses(ERROR_CODES)).toMatchFileSnapshot('../src/errors.generated.ts')
    await expect(renderErrorCodes(ERROR_CODES)).toMatchFileSnapshot('../src/error-codes.generated.ts')
  })

  it('the loaded catalogue agrees with the gateway in both directions, status for status', () => {
    const sdk = Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, e]) => [code, e.status]))
    const gateway = Object.fromEntries(Object.entries(ERROR_CODES).map(([code, e]) => [code, e.status]))
    expect(sdk).toEqual(gateway)
    for (const [code, e] of Object.entries(ERROR_CATALOGUE)) {
      const err = new e.errorClass('m')
      expect([err.name, err.code, err.status]).toEqual([errorClassName(code), code, e.status])
    }
  })
})
