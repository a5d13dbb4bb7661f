import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PtySession, USER_OOM_SCORE_ADJ } from './pty-session.ts'
import { prepareStateDir } from './state-dir.ts'

const oomScoreAdj = (pid: number | 'self') => Number(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'))

describe('the warm shell and the OOM killer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-oom-'))
  const session = new PtySession(prepareStateDir(join(dir, 'state')), '/bin/bash', { PATH: '/usr/bin:/bin' })
  afterAll(() => {
    session.kill()
    rmSync(dir, { recursive: true, force: true })
  })

  it('puts the shell above the agent, so a memory hog the user starts is killed first', () => {
    expect(USER_OOM_SCORE_ADJ).toBeGreaterThan(0)
    expect(oomScoreAdj(session.pid)).toBe(USER_OOM_SCORE_ADJ)
    expect(oomScoreAdj('self')).toBeLessThan(USER_OOM_SCORE_ADJ)
  })
})
