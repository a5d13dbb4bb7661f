import { describe, expect, it } from 'vitest'
import { describeApiError, describeClose, describeEnd, formatAge, formatMs } from '../app/messages.ts'

const body = (code: string, message = 'm', details?: { field: string; message: string }[]) => ({ error: { code, message, ...(details ? { details } : {}) } })

describe('messages a person reads', () => {
  it('explains a wrong API key without echoing it', () => {
    expect(describeApiError(401, body('unauthorized'))).toMatch(/API key was not accepted/)
  })

  it('turns a 503 with Retry-After into when to try again', () => {
    expect(describeApiError(503, body('capacity_exhausted'), 5)).toBe('No shell is free in this pool right now: it is at its maximum size. Try again in 5 s.')
    expect(describeApiError(503, body('claim_timeout'), 2)).toMatch(/took too long\. Try again in 2 s\./)
    expect(describeApiError(503, undefined)).toMatch(/busy or unavailable\. Try again in a moment\./)
  })

  it('says which quota refused a create and when to try again, and what a scoped key may not do', () => {
    expect(describeApiError(429, body('quota_exceeded', 'at most 5 sessions at once (maxSessions)'), 5)).toBe('A quota is full (at most 5 sessions at once (maxSessions)): end a session first. Try again in 5 s.')
    expect(describeApiError(429, body('rate_limited', 'at most 10 creates a minute (createsPerMin)'), 6)).toMatch(/in the last minute \(at most 10 .*\)\. Try again in 6 s\./)
    expect(describeApiError(403, body('forbidden', 'admin key only'))).toMatch(/may not do that \(admin key only\)\. Sign in with the admin key/)
  })

  it('names the fields of a validation error', () => {
    const text = describeApiError(400, body('validation_failed', 'invalid', [{ field: 'body.user', message: 'must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$' }]))
    expect(text).toBe('Please check: User name: must match ^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$.')
  })

  it('falls back to the status when the body is not an API error (never a stack trace)', () => {
    expect(describeApiError(502, undefined)).toBe('The gateway answered HTTP 502.')
    expect(describeApiError(500, body('internal'))).toMatch(/unexpected error and logged it/)
  })

  it('says why a session ended and what a close code means', () => {
    expect(describeEnd('exited', 0)).toBe('The shell exited with status 0.')
    expect(describeEnd('terminated')).toMatch(/terminated/)
    expect(describeEnd('something-new')).toBe('The session ended.')
    expect(describeClose(1001)).toMatch(/keeps running/)
  })

  it('formats durations', () => {
    expect(formatMs(3.24)).toBe('3.2 ms')
    expect(formatMs(41.6)).toBe('42 ms')
    expect(formatMs(1260)).toBe('1.3 s')
    expect(formatAge(45)).toBe('45 s')
    expect(formatAge(3 * 3600 + 5 * 60)).toBe('3 h 5 min')
  })
})
