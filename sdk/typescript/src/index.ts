// @holdfast/client: a Node client for Holdfast. The generated clients
// (./gen, from the server's proto files) carry every procedure; this layer
// adds what a service needs around them: errors that carry Holdfast's code
// and field, retries of idempotent calls only, a default holder or staff
// view, checkAllowed(), and a Checker that gathers many callers' checks
// into the messages of one CheckStream.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";

import { CaseService, ComplianceService } from "./gen/holdfast/v1/case_pb.js";
import {
  CheckRequestSchema,
  CheckStreamRequestSchema,
  DecisionService,
  type AuthorizeWithdrawalRequestSchema,
  type AuthorizeWithdrawalResponse,
  type CheckResponse,
  type CheckStreamRequest,
  type CheckStreamResponse,
} from "./gen/holdfast/v1/decision_pb.js";
import { EventService } from "./gen/holdfast/v1/event_pb.js";
import { PolicyService } from "./gen/holdfast/v1/policy_pb.js";
import { RestrictionService } from "./gen/holdfast/v1/restriction_pb.js";
import { SelfService } from "./gen/holdfast/v1/selfservice_pb.js";
import { ErrorDetailSchema, type Cause, type ErrorDetail } from "./gen/holdfast/v1/types_pb.js";

export * from "./gen/holdfast/v1/case_pb.js";
export * from "./gen/holdfast/v1/decision_pb.js";
export * from "./gen/holdfast/v1/event_pb.js";
export * from "./gen/holdfast/v1/policy_pb.js";
export * from "./gen/holdfast/v1/restriction_pb.js";
export * from "./gen/holdfast/v1/selfservice_pb.js";
export * from "./gen/holdfast/v1/types_pb.js";

/** Holdfast's error codes (docs/design.md), plus the transport's own. */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "permission_denied"
  | "immutable"
  | "failed_precondition"
  | "conflict"
  | "unauthenticated"
  | "resource_exhausted"
  | "internal"
  | "unavailable"
  | "deadline_exceeded"
  | "canceled";

/**
 * HoldfastError is every failure of a call: code is Holdfast's
 * (invalid_argument, conflict, …), field the request field at fault
 * ("action", "checks[2].account") when there is one, and causes, for
 * failed_precondition, the restrictions that refused.
 */
export class HoldfastError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  readonly causes: Cause[];
  /** The transport's code, for callers that need it. */
  readonly connectCode: Code;

  constructor(code: ErrorCode, message: string, opts: { field?: string; causes?: Cause[]; connectCode?: Code; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "HoldfastError";
    this.code = code;
    this.field = opts.field;
    this.causes = opts.causes ?? [];
    this.connectCode = opts.connectCode ?? Code.Unknown;
  }

  /** From a server's ErrorDetail (a failed call, or one check of a stream). */
  static fromDetail(d: ErrorDetail, connectCode = Code.Unknown, cause?: unknown): HoldfastError {
    return new HoldfastError(d.code as ErrorCode, d.message, { field: d.field, causes: d.causes, connectCode, cause });
  }

  /** From anything a call threw. */
  static from(err: unknown): HoldfastError {
    if (err instanceof HoldfastError) {
      return err;
    }
    const ce = ConnectError.from(err);
    const [detail] = ce.findDetails(ErrorDetailSchema);
    if (detail) {
      return HoldfastError.fromDetail(detail, ce.code, err);
    }
    const code = isNetworkFailure(ce) ? "unavailable" : (transportCodes[ce.code] ?? "internal");
    return new HoldfastError(code, ce.rawMessage, { connectCode: ce.code, cause: err });
  }
}

// A connection refused, reset or broken: the server was not there to
// answer (for a write: it may or may not have taken effect). connect-node
// reports these under several codes (unknown, aborted, internal for a
// broken pipe), so the Node error codes in the cause chain decide.
function isNetworkFailure(ce: ConnectError): boolean {
  if (ce.code === Code.Unavailable) {
    return true;
  }
  for (let cause: unknown = ce.cause, depth = 0; cause && depth < 8; depth++) {
    const c = cause as { code?: unknown; cause?: unknown };
    if (typeof c.code === "string" && networkErrorCodes.has(c.code)) {
      return true;
    }
    cause = c.cause;
  }
  return false;
}

const networkErrorCodes = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
]);

// An HTTP/2 stream the caller did not cancel ends "canceled" when the
// server's connection goes away under it: that is the server being
// unavailable, not a cancellation.
function transportFailure(err: unknown, canceledByCaller: boolean): unknown {
  const ce = ConnectError.from(err);
  if (ce.code === Code.Canceled && !canceledByCaller && ce.findDetails(ErrorDetailSchema).length === 0) {
    return new ConnectError(ce.rawMessage, Code.Unavailable, ce.metadata, undefined, err);
  }
  return err;
}

// typed wraps a generated client so that every call fails with a
// HoldfastError. (An interceptor cannot: Connect turns whatever it throws
// back into a ConnectError.)
function typed<T extends object>(client: T): T {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const fn = Reflect.get(target, prop, receiver);
      if (typeof fn !== "function") {
        return fn;
      }
      return (...args: unknown[]) => {
        const out = fn.apply(target, args);
        if (out instanceof Promise) {
          return out.catch((err: unknown) => {
            throw HoldfastError.from(err);
          });
        }
        if (out && typeof out === "object" && Symbol.asyncIterator in out) {
          return typedStream(out as AsyncIterable<unknown>);
        }
        return out;
      };
    },
  });
}

async function* typedStream<M>(stream: AsyncIterable<M>): AsyncIterable<M> {
  try {
    yield* stream;
  } catch (err) {
    throw HoldfastError.from(err);
  }
}

// What a failure without Holdfast's detail (the network, a proxy) means.
const transportCodes: Partial<Record<Code, ErrorCode>> = {
  [Code.Unavailable]: "unavailable",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.Canceled]: "canceled",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "permission_denied",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.ResourceExhausted]: "resource_exhausted",
};

/** The procedures a retry cannot repeat the effect of. */
function isIdempotent(method: string): boolean {
  return /^(Get|List)/.test(method) || ["Check", "BatchCheck", "AuthorizeWithdrawal", "DiffPolicy", "ShadowReport", "AccountReport"].includes(method);
}

export interface HoldfastOptions {
  /** The server, e.g. http://127.0.0.1:7433 or https://holdfast.internal. */
  baseUrl: string;
  /** A bearer token (holdfast token create). */
  token?: string;
  /**
   * "connect" (the default: JSON over HTTP/1.1, or HTTP/2 with httpVersion
   * "2") or "grpc" (HTTP/2). The Checker needs HTTP/2 either way.
   */
  protocol?: "connect" | "grpc";
  httpVersion?: "1.1" | "2";
  /**
   * The view checks and withdrawals answer in when a request does not
   * say: "staff" (every cause, the server's default) or "holder" (a
   * restriction the holder must not learn of shows only as a generic
   * cause). Set "holder" in a service that shows causes to holders.
   */
  view?: "staff" | "holder";
  /** Retries of an idempotent call that found the server unavailable (default 2). */
  retries?: number;
  /** The first retry's wait in ms, doubled each time, with jitter (default 50). */
  retryDelayMs?: number;
  /** Called before each retry (for logs and tests). */
  onRetry?: (method: string, attempt: number, err: HoldfastError) => void;
  /** A transport of your own (TLS options, interceptors); overrides the above. */
  transport?: Transport;
}

/** A check as the helpers take it: the account and action, and optional context. */
export type CheckInput = MessageInitShape<typeof CheckRequestSchema> & { account: string; action: string };

export interface Holdfast {
  decision: Client<typeof DecisionService>;
  restriction: Client<typeof RestrictionService>;
  event: Client<typeof EventService>;
  self: Client<typeof SelfService>;
  case: Client<typeof CaseService>;
  compliance: Client<typeof ComplianceService>;
  policy: Client<typeof PolicyService>;
  /** Check answers may `account` do `action` now, with the causes. */
  check(input: CheckInput): Promise<CheckResponse>;
  /** checkAllowed is true only when the effect is allow (review and deny are not). */
  checkAllowed(input: CheckInput): Promise<boolean>;
  /** authorizeWithdrawal decides a withdrawal, idempotently by its id. */
  authorizeWithdrawal(req: MessageInitShape<typeof AuthorizeWithdrawalRequestSchema>): Promise<AuthorizeWithdrawalResponse>;
  /** A Checker sharing one CheckStream among every caller of this process. */
  checker(opts?: CheckerOptions): Checker;
}

/** createHoldfast makes a client for one server. */
export function createHoldfast(opts: HoldfastOptions): Holdfast {
  const retries = opts.retries ?? 2;
  const delay = opts.retryDelayMs ?? 50;
  const auth: Interceptor = (next) => async (req) => {
    if (opts.token) {
      req.header.set("Authorization", `Bearer ${opts.token}`);
    }
    return next(req);
  };
  // An idempotent unary call that found the server unavailable is tried
  // again; nothing else ever is.
  const retry: Interceptor = (next) => async (req) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await next(req);
      } catch (caught) {
        const err = transportFailure(caught, req.signal.aborted);
        const he = HoldfastError.from(err);
        if (req.stream || !isIdempotent(req.method.name) || he.code !== "unavailable" || attempt >= retries || req.signal.aborted) {
          throw err;
        }
        opts.onRetry?.(req.method.name, attempt + 1, he);
        await sleep(delay * 2 ** attempt * (0.5 + Math.random()));
      }
    }
  };
  const interceptors = [retry, auth];
  const transport =
    opts.transport ??
    (opts.protocol === "grpc"
      ? createGrpcTransport({ baseUrl: opts.baseUrl, interceptors })
      : createConnectTransport({ baseUrl: opts.baseUrl, httpVersion: opts.httpVersion ?? "1.1", interceptors }));
  // The Checker's stream needs HTTP/2 even when the unary calls do not.
  const streamTransport =
    opts.transport ??
    (opts.protocol === "grpc" || opts.httpVersion === "2"
      ? transport
      : createConnectTransport({ baseUrl: opts.baseUrl, httpVersion: "2", interceptors }));
  const decision = typed(createClient(DecisionService, transport));
  const withView = <T extends { view?: string }>(req: T): T => withDefaultView(req, opts.view);

  return {
    decision,
    restriction: typed(createClient(RestrictionService, transport)),
    event: typed(createClient(EventService, transport)),
    self: typed(createClient(SelfService, transport)),
    case: typed(createClient(CaseService, transport)),
    compliance: typed(createClient(ComplianceService, transport)),
    policy: typed(createClient(PolicyService, transport)),
    check: (input) => decision.check(withView(input)),
    checkAllowed: async (input) => (await decision.check(withView(input))).effect === "allow",
    authorizeWithdrawal: (req) => decision.authorizeWithdrawal(withView(req)),
    checker: (copts) => new Checker(createClient(DecisionService, streamTransport), { view: opts.view, ...copts }),
  };
}

export interface CheckerOptions {
  /** Most checks per message (1 to 1000; default 1000). */
  maxBatch?: number;
  /** Default view of its checks. */
  view?: "staff" | "holder";
}

interface Waiting {
  req: CheckInput;
  resolve: (r: CheckResponse) => void;
  reject: (e: unknown) => void;
}

/**
 * Checker answers checks over one CheckStream shared by every caller.
 * The checks asked while a message is being sent are gathered into the
 * next one, so a busy service sends few messages and each check costs no
 * HTTP request. A check the server cannot answer (a bad action) fails
 * alone; a broken stream fails the checks in flight, and the next check
 * opens a new one.
 */
export class Checker {
  private readonly client: Client<typeof DecisionService>;
  private readonly maxBatch: number;
  private readonly view?: string;
  private queued: Waiting[] = [];
  private flushing = false;
  private stream?: { send: (m: CheckStreamRequest) => void; end: () => void; sent: Waiting[][] };
  private closed = false;

  constructor(client: Client<typeof DecisionService>, opts: CheckerOptions = {}) {
    this.client = client;
    this.maxBatch = Math.min(Math.max(opts.maxBatch ?? 1000, 1), 1000);
    this.view = opts.view;
  }

  /** check answers one check. */
  check(req: CheckInput): Promise<CheckResponse> {
    if (this.closed) {
      return Promise.reject(new HoldfastError("canceled", "the checker is closed"));
    }
    return new Promise((resolve, reject) => {
      this.queued.push({ req: withDefaultView(req, this.view), resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        // Let the callers already running ask too before the message goes.
        setImmediate(() => this.flush());
      }
    });
  }

  /** checkAllowed is true only when the effect is allow. */
  async checkAllowed(req: CheckInput): Promise<boolean> {
    return (await this.check(req)).effect === "allow";
  }

  /** close ends the stream once the checks in flight are answered. */
  close(): void {
    this.closed = true;
    this.stream?.end();
  }

  private flush(): void {
    this.flushing = false;
    while (this.queued.length > 0) {
      const batch = this.queued.splice(0, this.maxBatch);
      const s = this.open();
      s.sent.push(batch);
      s.send(create(CheckStreamRequestSchema, { checks: batch.map((w) => create(CheckRequestSchema, w.req)) }));
    }
  }

  // open returns the stream, starting one if there is none.
  private open(): NonNullable<Checker["stream"]> {
    if (this.stream) {
      return this.stream;
    }
    const outbox: CheckStreamRequest[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const requests = (async function* () {
      for (;;) {
        while (outbox.length > 0) {
          yield outbox.shift()!;
        }
        if (ended) {
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    })();
    const s = {
      sent: [] as Waiting[][],
      send: (m: CheckStreamRequest) => {
        outbox.push(m);
        wake?.();
      },
      end: () => {
        ended = true;
        wake?.();
      },
    };
    this.stream = s;
    void this.receive(s, this.client.checkStream(requests));
    return s;
  }

  private async receive(s: NonNullable<Checker["stream"]>, responses: AsyncIterable<CheckStreamResponse>): Promise<void> {
    let failure: unknown = new HoldfastError("unavailable", "the check stream ended before answering");
    try {
      for await (const res of responses) {
        const batch = s.sent.shift();
        if (!batch) {
          break;
        }
        batch.forEach((w, i) => {
          const d = res.decisions[i];
          if (!d) {
            w.reject(new HoldfastError("internal", "the server answered fewer checks than were asked"));
          } else if (d.error) {
            w.reject(HoldfastError.fromDetail(d.error));
          } else {
            w.resolve(d);
          }
        });
      }
    } catch (err) {
      failure = HoldfastError.from(err);
    }
    s.end(); // the request generator, if the server ended first
    if (this.stream === s) {
      this.stream = undefined;
    }
    for (const batch of s.sent.splice(0)) {
      batch.forEach((w) => w.reject(failure));
    }
  }
}

/** withDefaultView gives req the view unless it names one itself. */
function withDefaultView<T extends { view?: string }>(req: T, view?: string): T {
  return req.view || !view ? req : { ...req, view };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
