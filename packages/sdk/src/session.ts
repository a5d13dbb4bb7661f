import { runExec, runSpawn, type ExecOptions, type SpawnOptions } from './exec.ts'
import { Files } from './files.ts'
import type { Transport } from './http.ts'
import { Processes } from './processes.ts'
import { Terminal, type TerminalOptions, type WebSocketConstructor } from './terminal.ts'
import type { Attach, CreatedSessionInfo, ExecResult, KeepaliveRequest, NetworkPolicy, SessionInfo, SessionNetwork, SpawnedProcess } from './types.ts'

/** @internal What a session needs of its client. */
export interface SessionContext {
  readonly transport: Transport
  readonly WebSocket: WebSocketConstructor | undefined
}

/** An attach token this close to its expiry is not worth a WebSocket handshake. */
const ATTACH_MARGIN_MS = 10_000

/** One session: its commands, files and terminal. `lab.sessions.create()` or `.get()` makes one. */
export class Session {
  readonly id: string
  readonly files: Files
  readonly processes: Processes
  private view: SessionInfo
  private firstAttach: Attach | undefined
  private readonly base: string

  /** @internal */
  constructor(private readonly ctx: SessionContext, info: SessionInfo | CreatedSessionInfo) {
    this.id = info.id
    const { attach, ...view } = info as CreatedSessionInfo
    this.view = view
    this.firstAttach = attach
    this.base = `/v1/sessions/${encodeURIComponent(info.id)}`
    this.files = new Files(ctx.transport, this.base)
    this.processes = new Processes(ctx.transport, this.base)
  }

  /** The session's JSON view as last read (`refresh()` reads it again). */
  get info(): SessionInfo {
    return this.view
  }

  async refresh(opts: { signal?: AbortSignal } = {}): Promise<SessionInfo> {
    this.view = await this.ctx.transport.json<SessionInfo>('GET', this.base, opts)
    return this.view
  }

  /**
   * Runs a command and resolves when it has ended: a string runs with `bash -c`, an array is
   * argv. A non-zero exit is a result, not an error. With `onStdout`/`onStderr` the output
   * streams to them as it comes.
   */
  exec(cmd: string | readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return runExec(this.ctx.transport, this.base, cmd, opts)
  }

  /** Starts a command in the background; follow it with `processes`. */
  spawn(cmd: string | readonly string[], opts: SpawnOptions = {}): Promise<SpawnedProcess> {
    return runSpawn(this.ctx.transport, this.base, cmd, opts)
  }

  /** The session's egress policy, its credentials' hosts (never values) and its last 100 denied attempts. */
  network(opts: { signal?: AbortSignal } = {}): Promise<SessionNetwork> {
    return this.ctx.transport.json<SessionNetwork>('GET', `${this.base}/network`, opts)
  }

  /** Replaces the egress policy while the session runs: new connections follow it at once, disallowed open ones close. */
  setNetwork(policy: NetworkPolicy, opts: { signal?: AbortSignal } = {}): Promise<SessionNetwork> {
    return this.ctx.transport.json<SessionNetwork>('PUT', `${this.base}/network`, { ...opts, json: policy })
  }

  /** A fresh attach token for the terminal WebSocket (SessionEndedError once ended). */
  attach(opts: { signal?: AbortSignal } = {}): Promise<Attach> {
    return this.ctx.transport.json<Attach>('POST', `${this.base}/attach`, opts)
  }

  /** Opens the session's terminal; resolves once its WebSocket is open. */
  async terminal(opts: TerminalOptions = {}): Promise<Terminal> {
    const WS = this.ctx.WebSocket
    if (!WS) throw new TypeError("InfraLab: no WebSocket here: pass one, new InfraLab({ url, apiKey, WebSocket }) (in Node 20: import WebSocket from 'ws')")
    const term = new Terminal(WS, this.ctx.transport.baseUrl, () => this.attach())
    // The attach that came with create saves a round trip while it is valid.
    const first = this.firstAttach
    this.firstAttach = undefined
    const usable = first && Date.parse(first.expiresAt) - Date.now() > ATTACH_MARGIN_MS
    await term.connect(usable ? first : await this.attach(), opts)
    return term
  }

  /**
   * Resets the session's idle timeout; with `timeoutS` it ends (`max_lifetime`) that many seconds
   * from now, within the gateway's maximum (a ValidationFailedError names it). Any call on the
   * session resets idleness too: this is for a session in use elsewhere, e.g. by a long job.
   */
  async keepalive(req: KeepaliveRequest = {}, opts: { signal?: AbortSignal } = {}): Promise<SessionInfo> {
    this.view = await this.ctx.transport.json<SessionInfo>('POST', `${this.base}/keepalive`, { json: req, ...opts })
    return this.view
  }

  /** Ends the session and destroys its sandbox (also fine when it had ended). */
  async end(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.ctx.transport.json<void>('DELETE', this.base, opts)
  }
}
