/** `infra-lab sim --help`: the scenario format in brief (docs/sim.md has all of it). */
export const SIM_HELP = `
Scenario file (JSON), validated; errors name the field. Minimal form:
  {"durationS": 86400, "seed": 1,
   "arrivals": {"kind": "poisson", "ratePerS": 1},
   "sessionS": {"kind": "exponential", "meanS": 600},
   "sandbox": {"startS": {"kind": "constant", "valueS": 10}},
   "policy": {"kind": "fixed", "size": 15}}

  arrivals   poisson {ratePerS} | diurnal {hourlyRatesPerS[24] | peakRatePerS, troughRatePerS,
             peakHour, weekendFactor} | bursts {base, bursts[{atS,durationS,ratePerS}], every}
             | trace {file: CSV with t (s) or time (ISO), optional durationS, user;
             made by infra-lab trace gen / import-azure, see infra-lab trace --help}
  sessionS   constant {valueS} | exponential {meanS} | lognormal {meanS, sigma} |
             uniform {minS, maxS} | empirical {valuesS: [...], drawn with replacement} |
             trace (durations from the trace)
  sandbox    startS (refill time B, a duration as above), claimS (warm claim latency),
             coldClaimS (a cold claim's own time once its sandbox is ready; absent: claimS),
             createCores (creates share this many processors; startS is then the time alone),
             usdPerHour (cost when there is no hosts/fargate section)
  policy     the pool-spec policy: fixed {size} | erlang {targetMissRate, windowS} |
             scheduled {defaultSize, rules[{days, from, to, size}], utcOffsetMin, leadS} |
             predictive {targetMissRate, windowS, yesterdayWeight, floorAtObserved, dayS}
  pool       minSize, maxSize, maxConcurrentCreates, resyncS, maxCreatesPerMin (absent: no
             budget), maxWarmAgeS (0: never), createFailureRate (0..1), coldClaims
             (handOff: a finished create serves the oldest waiting claim, as the gateway;
             own: a cold claim waits for its own create, the Erlang B loss system),
             maxClaimWaiters (claims that may wait at once; absent: no cap)
  hosts      instanceType, slots, minRunning, maxHosts, targetCapacityPct, scaleInAfterS,
             bootS, image {pullS, mode: pull|prepulled|golden}, warmPool {state:
             stopped|hibernated, size, stoppedStartS, hibernatedStartS}, ebsGb,
             spotFraction, interruptionsPerHour, noticeS, azs   (absent: unlimited hosts)
  fargate    spot, startS, vcpu, memoryGb, interruptionsPerHour, noticeS, azs
  azOutage   {az, atS, durationS}      costs  overrides of the default price table
  also       warmupS, startAt (ISO), samples, name, description

Predicting a replay (infra-lab replay --out R.json): --trace T --starts-from R.json [--speed S]
simulates T compressed by S (default: the replay's), the pool's spec as the gateway ran it and
sandbox creates drawn from the durations the replay measured (not compressed). With their
launch times, a create draws among those launched nearest its own moment ("timed" startS, the
window chosen by cross-validation), so the machine's slow minutes stay where they were;
--create-draws any draws among all of them ("empirical"), for a what-if on another trace.

Examples:
  infra-lab sim scenarios/task-prewarm-pool.json --report out.html
  infra-lab sim scenarios/task-prewarm-pool.json --json --set policy.size=20
  infra-lab sim scenarios/task-prewarm-pool.json --sweep policy.size=0..40 --target-p99-s 1
`

/** `infra-lab trace --help`: the trace format and examples (docs/sim.md has all of it). */
export const TRACE_HELP = `
Trace format (CSV): '#' comment lines, then a header naming t (seconds from the start) or
time (ISO 8601), and optionally durationS (session length, s) and user; one arrival a row,
times never decreasing. A scenario uses it with "arrivals": {"kind": "trace", "file": F}
(and "sessionS": {"kind": "trace"} for its durations).

  # infra-lab trace gen: poisson ratePerS=2 durationS=3600
  t,durationS,user
  0.412,731.9,user-3

Session lengths (--session): constant:S, exponential:MEAN, lognormal:MEAN:SIGMA,
uniform:MIN:MAX, or none (no durationS column).

Examples:
  infra-lab trace gen poisson --rate 2 --duration 3600 --seed 1 --out poisson.csv
  infra-lab trace gen diurnal --peak-rate 4 --trough-rate 0.5 --compress 24 --duration 7200 --out diurnal.csv
  infra-lab trace gen bursty --rate 1 --burst-rate 20 --burst-every 600 --burst-duration 30 --out bursty.csv
  infra-lab trace import-azure invocations_per_function_md.anon.d01.csv --top 10 --minutes 481-600 --scale 0.05 --out azure.csv
  infra-lab trace info poisson.csv
`

/** `infra-lab replay --help` (docs/sim.md, "Replay and fidelity", has all of it). */
export const REPLAY_HELP = `
Each arrival at t creates a session at t / speed after the start (the pool full first), opens
its terminal WebSocket and keeps it open for durationS / speed from the create's answer, then
ends it. Recorded: each arrival's path (warm, cold, failed) and the gateway's claim time, the
pool's counts every --sample-ms, and each sandbox create's duration (from the gateway's
lab_sandbox_start_duration_seconds). The JSON has the fields of sim --json, measured, and under
"replay" what they were measured from; sim --starts-from predicts the same run from it.

Examples:
  infra-lab trace gen poisson --rate 0.5 --duration 4000 --session exponential:60 --out p.csv
  infra-lab replay p.csv --url http://127.0.0.1:8080 --key $KEY --speed 10 --out replay.json
  infra-lab sim --trace p.csv --speed 10 --starts-from replay.json
`
