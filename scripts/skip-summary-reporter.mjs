// A vitest reporter that lists, at the end of the run, every suite or test that was skipped and
// why: a suite gives its reason in its name (`… (skipped: no Docker daemon answers …)`), a test
// through `ctx.skip(reason)`. A run that skips something says so where the counts are read.

const REASON = /\(skipped: (.*)\)\s*$/

/** Skipped suites (as one line each) and skipped tests outside them, depth first. */
function skippedIn(parent, file, out) {
  for (const c of parent.children) {
    if (c.type === 'suite') {
      if (c.state() === 'skipped') out.push({ file, name: c.fullName, tests: [...c.children.allTests()].length, reason: c.name.match(REASON)?.[1] })
      else skippedIn(c, file, out)
    } else if (c.type === 'test' && c.result().state === 'skipped') {
      out.push({ file, name: c.fullName, tests: 1, reason: c.result().note ?? c.name.match(REASON)?.[1] })
    }
  }
  return out
}

export default class SkipSummaryReporter {
  onInit(ctx) {
    this.logger = ctx.logger
  }

  onTestRunEnd(modules) {
    const skipped = modules.flatMap((m) => skippedIn(m, m.relativeModuleId, []))
    if (skipped.length === 0) return
    const total = skipped.reduce((n, s) => n + s.tests, 0)
    const lines = skipped.map((s) => {
      const name = s.name.replace(REASON, '').trim()
      return `  - ${s.file} > ${name} (${s.tests} test${s.tests === 1 ? '' : 's'}): ${s.reason ?? 'no reason given'}`
    })
    this.logger.log(`\n Skipped here (${total} test${total === 1 ? '' : 's'}), and why:\n${lines.join('\n')}\n`)
  }
}
