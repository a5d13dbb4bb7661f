import type { SandboxSpec } from '../types.ts'
import { FakeDriver } from './fake-driver.ts'

/** A FakeDriver whose creates wait until the test lets them through, one at a time or all. */
export class GatedDriver extends FakeDriver {
  private readonly gates: (() => void)[] = []
  override async create(spec: SandboxSpec) {
    await new Promise<void>((resolve) => this.gates.push(resolve))
    return super.create(spec)
  }
  get waiting(): number {
    return this.gates.length
  }
  /** Lets the oldest create through. */
  release(): void {
    this.gates.shift()?.()
  }
  releaseAll(): void {
    while (this.gates.length > 0) this.release()
  }
}
