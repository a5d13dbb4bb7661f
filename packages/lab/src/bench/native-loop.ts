import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FS_OPS, type FsOp } from './fs-ops.ts'

const run = promisify(execFile)

/**
 * The ceiling: the same operations on the same kind of paths from a minimal C loop, one thread.
 * Runs every phase in FS_OPS order (untimed setup where a phase needs files or directories),
 * skips `warmup` items per phase, and prints `op count elapsed_ns` per phase.
 */
export const NATIVE_SOURCE = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static long long now_ns(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }
static void die(const char *what, const char *p) { perror(what); fprintf(stderr, "path: %s\n", p); exit(1); }
int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: dir files warmup readdir_repeats write_bytes\n"); return 2; }
  const char *d = argv[1]; int n = atoi(argv[2]); int warm = atoi(argv[3]); int rd = atoi(argv[4]); int wb = atoi(argv[5]);
  if (warm > n / 10) warm = n / 10;
  int rwarm = warm > rd / 10 ? rd / 10 : warm;
  char **f = malloc(n * sizeof(char *)), **g = malloc(n * sizeof(char *)), **dd = malloc(n * sizeof(char *));
  for (int i = 0; i < n; i++) { if (asprintf(&f[i], "%s/f%d", d, i) < 0 || asprintf(&g[i], "%s/g%d", d, i) < 0 || asprintf(&dd[i], "%s/d%d", d, i) < 0) return 1; }
  char *buf = malloc(wb > 0 ? wb : 1); memset(buf, 'x', wb);
  struct stat st; long long t0; int i, fd;
#define PHASE(name, count, w, body) do { for (i = 0; i < (w); i++) { body; } t0 = now_ns(); for (; i < (count); i++) { body; } printf("%s %d %lld\n", name, (count) - (w), now_ns() - t0); fflush(stdout); } while (0)
  PHASE("mkdir", n, warm, if (mkdir(dd[i], 0755)) die("mkdir", dd[i]));
  PHASE("create", n, warm, fd = open(f[i], O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644); if (fd < 0) die("open", f[i]); close(fd));
  PHASE("write", n, warm, fd = open(f[i], O_WRONLY | O_TRUNC | O_CLOEXEC); if (fd < 0 || write(fd, buf, wb) != wb) die("write", f[i]); close(fd));
  PHASE("stat", n, warm, if (stat(f[i], &st)) die("stat", f[i]));
  PHASE("readdir", rd, rwarm, DIR *dir = opendir(d); if (!dir) die("opendir", d); while (readdir(dir)) {} closedir(dir));
  PHASE("rename", n, warm, if (rename(f[i], g[i])) die("rename", f[i]));
  PHASE("unlink", n, warm, if (unlink(g[i])) die("unlink", g[i]));
  PHASE("rmdir", n, warm, if (rmdir(dd[i])) die("rmdir", dd[i]));
  return 0;
}
`

export interface NativeRate {
  readonly op: FsOp
  readonly n: number
  readonly opsPerS: number
  /** With several rounds: each round's ops/s (`opsPerS` is their median). */
  readonly roundsOpsPerS?: number[]
}

export type NativeResult = { readonly rates: NativeRate[] } | { readonly skipped: string }

/** Compiles the loop once per source version (cached in the temp dir); undefined without cc. */
export async function compileNativeLoop(cacheDir = join(tmpdir(), 'infra-lab-bench-bin')): Promise<string | { skipped: string }> {
  const hash = createHash('sha256').update(NATIVE_SOURCE).digest('hex').slice(0, 12)
  const bin = join(cacheDir, `fsloop-${hash}`)
  if (existsSync(bin)) return bin
  mkdirSync(cacheDir, { recursive: true })
  const src = join(cacheDir, `fsloop-${hash}.c`)
  writeFileSync(src, NATIVE_SOURCE)
  try {
    await run('cc', ['-O2', '-o', `${bin}.tmp`, src])
    await run('mv', [`${bin}.tmp`, bin])
    return bin
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string }
    return { skipped: e.code === 'ENOENT' ? 'no C compiler (cc) on PATH: apt-get install gcc' : `cc failed: ${e.stderr ?? e.message}` }
  }
}

/** Runs the native loop in `dir` (which must not exist yet; removed again by the caller). */
export async function runNativeLoop(dir: string, opts: { files: number; warmup: number; readdirRepeats: number; writeBytes: number }, signal: AbortSignal): Promise<NativeResult> {
  const bin = await compileNativeLoop()
  if (typeof bin !== 'string') return bin
  mkdirSync(dir)
  const { stdout } = await run(bin, [dir, String(opts.files), String(opts.warmup), String(opts.readdirRepeats), String(opts.writeBytes)], { signal })
  const rates: NativeRate[] = []
  for (const line of stdout.trim().split('\n')) {
    const [op, n, ns] = line.split(' ')
    if (!(FS_OPS as readonly string[]).includes(op!)) continue
    rates.push({ op: op as FsOp, n: Number(n), opsPerS: Number(n) / (Number(ns) / 1e9) })
  }
  return { rates }
}
