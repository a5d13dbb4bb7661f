import { describe, expect, it } from 'vitest'
import { formatSizeBytes, parseSizeBytes } from './size.ts'

describe('parseSizeBytes', () => {
  it('reads bytes and binary units, with or without iB, in any case', () => {
    expect(parseSizeBytes('1073741824')).toBe(1024 ** 3)
    expect(parseSizeBytes(4096)).toBe(4096)
    expect(parseSizeBytes('512M')).toBe(512 * 1024 ** 2)
    expect(parseSizeBytes('1G')).toBe(1024 ** 3)
    expect(parseSizeBytes('2GiB')).toBe(2 * 1024 ** 3)
    expect(parseSizeBytes('64k')).toBe(64 * 1024)
    expect(parseSizeBytes('1.5g')).toBe(1.5 * 1024 ** 3)
    expect(parseSizeBytes(' 2 TiB ')).toBe(2 * 1024 ** 4)
  })

  it('reads 0 and off as no quota', () => {
    expect(parseSizeBytes('0')).toBe(0)
    expect(parseSizeBytes('off')).toBe(0)
    expect(parseSizeBytes('OFF')).toBe(0)
  })

  it('refuses what is not a size, and decimal units as ambiguous', () => {
    for (const bad of ['', 'big', '-1G', '1GB', '1 Gb', '1X', '0x10', '1e9', 'G', '1G1']) expect(parseSizeBytes(bad), bad).toBeUndefined()
    expect(parseSizeBytes(-5)).toBeUndefined()
    expect(parseSizeBytes(1.5)).toBeUndefined()
    expect(parseSizeBytes('99999999T')).toBeUndefined()
  })
})

describe('formatSizeBytes', () => {
  it('uses the largest binary unit that divides the size', () => {
    expect(formatSizeBytes(1024 ** 3)).toBe('1 GiB')
    expect(formatSizeBytes(40 * 1024 ** 2)).toBe('40 MiB')
    expect(formatSizeBytes(1536 * 1024 ** 2)).toBe('1536 MiB')
    expect(formatSizeBytes(1000)).toBe('1000 bytes')
  })
})
