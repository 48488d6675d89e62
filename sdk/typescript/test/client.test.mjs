// The client against a real server: checks, views, typed errors,
// withdrawals, retries of idempotent calls only, and the Checker, over
// Connect and over gRPC.
import assert from "node:assert/strict";
import { createServer as createNetServer } from "node:net";
import { after, before, describe, test } from "node:test";

import { createHoldfast, HoldfastError } from "../dist/index.js";
import { startServer } from "./server.mjs";

let srv;
before(async () => {
  srv = await startServer();
});
after(async () => {
  await srv?.stop();
});

for (const protocol of ["connect", "grpc"]) {
  describe(`over ${protocol}`, () => {
    test("a check, allowed then denied with its causes", async () => {
      const hf = createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol });
      const staff = createHoldfast({ baseUrl: srv.url, token: srv.staffToken, protocol });
      const account = `ts-${protocol}-1`;
      assert.equal(await hf.checkAllowed({ account, action: "withdraw" }), true);
      await staff.restriction.apply({ account, kind: "withdrawal_freeze", duration: "2h", reason: "ts sdk test" });
      const d = await hf.check({ account, action: "withdraw" });
      assert.equal(d.effect, "deny");
      assert.equal(d.causes[0].kind, "withdrawal_freeze");
      assert.ok(d.retryAfter, "a freeze with an end says when to retry");
      assert.equal(await hf.checkAllowed({ account, action: "withdraw" }), false);
      assert.equal(await hf.checkAllowed({ account, action: "trade" }), true);
    });

    test("the holder view hides a law-enforcement hold", async () => {
      const liaison = createHoldfast({ baseUrl: srv.url, token: srv.liaisonToken, protocol });
      const account = `ts-${protocol}-le`;
      await liaison.restriction.apply({ account, kind: "law_enforcement_hold", reason: "court order", reference: "court-order-12" });
      const staffView = await createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol }).check({ account, action: "withdraw" });
      const holder = createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol, view: "holder" });
      const holderView = await holder.check({ account, action: "withdraw" });
      assert.equal(staffView.causes[0].kind, "law_enforcement_hold");
      assert.equal(holderView.effect, "deny");
      assert.ok(holderView.causes.every((c) => c.kind !== "law_enforcement_hold"), holderView.causes.map((c) => c.kind).join(","));
    });

    test("errors carry Holdfast's code and field", async () => {
      const hf = createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol });
      await assert.rejects(hf.check({ account: "ts-x", action: "withdrawl" }), (err) => {
        assert.ok(err instanceof HoldfastError);
        assert.equal(err.code, "invalid_argument");
        assert.equal(err.field, "action");
        return true;
      });
      const stranger = createHoldfast({ baseUrl: srv.url, token: "hf_not_a_token", protocol });
      await assert.rejects(stranger.check({ account: "ts-x", action: "trade" }), { code: "unauthenticated" });
      // A check token may not apply restrictions.
      await assert.rejects(hf.restriction.apply({ account: "ts-x", kind: "reduce_only", reason: "no" }), { code: "permission_denied" });
    });

    test("a withdrawal, idempotent by id", async () => {
      const hf = createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol });
      const req = { account: `ts-${protocol}-w`, id: `w-${protocol}-1`, asset: "USDT", amount: "150000", address: "addr-1" };
      const first = await hf.authorizeWithdrawal(req);
      assert.equal(first.outcome, "review"); // over the default's single_usd 100,000
      const again = await hf.authorizeWithdrawal(req);
      assert.equal(again.outcome, first.outcome);
      assert.equal(again.seq, first.seq);
      await assert.rejects(hf.authorizeWithdrawal({ ...req, amount: "5" }), { code: "conflict" });
    });

    test("the Checker: many callers, one stream, a bad check fails alone", async () => {
      const hf = createHoldfast({ baseUrl: srv.url, token: srv.checkToken, protocol });
      const staff = createHoldfast({ baseUrl: srv.url, token: srv.staffToken, protocol });
      const frozen = `ts-${protocol}-checker-frozen`;
      await staff.restriction.apply({ account: frozen, kind: "withdrawal_freeze", duration: "2h", reason: "checker" });
      const checker = hf.checker();
      try {
        const asks = [];
        for (let i = 0; i < 500; i++) {
          asks.push(checker.check({ account: i % 5 === 0 ? frozen : `ts-${protocol}-free-${i}`, action: "withdraw" }));
        }
        const bad = checker.check({ account: frozen, action: "teleport" });
        const answers = await Promise.all(asks);
        answers.forEach((d, i) => assert.equal(d.effect, i % 5 === 0 ? "deny" : "allow", `check ${i}`));
        await assert.rejects(bad, { code: "invalid_argument" });
        // The stream goes on after the bad check, and the unary answer agrees.
        assert.equal((await checker.check({ account: frozen, action: "withdraw" })).effect, (await hf.check({ account: frozen, action: "withdraw" })).effect);
      } finally {
        checker.close();
      }
    });
  });
}

test("an idempotent call is retried while the server is away; a write is not", async () => {
  const retried = [];
  const hf = createHoldfast({
    baseUrl: srv.url, token: srv.staffToken, retries: 8, retryDelayMs: 100,
    onRetry: (method) => retried.push(method),
  });
  const back = srv.restartAfter(300);
  try {
    const write = hf.restriction.apply({ account: "ts-retry", kind: "reduce_only", reason: "while away" });
    await assert.rejects(write, (err) => {
      assert.equal(err.code, "unavailable", `${err.code} ${err.message} cause ${err.cause?.cause?.code ?? err.cause?.code}`);
      return true;
    });
    assert.deepEqual(retried, [], "a write must never be sent twice");
    const d = await hf.check({ account: "ts-retry", action: "trade" });
    assert.equal(d.effect, "allow");
    assert.ok(retried.length > 0 && retried.every((m) => m === "Check"), `retries: ${retried}`);
  } finally {
    await back; // the server is up again before the next test, or after() stops it
  }
});

// A server that dies with the request half sent: Node reports a broken
// pipe (Connect) or a canceled HTTP/2 stream (gRPC). Either is the server
// being unavailable, and a write is still not sent twice.
for (const protocol of ["connect", "grpc"]) {
  test(`a connection dropped mid-request is unavailable (${protocol})`, async () => {
    const dropper = createNetServer((sock) => sock.destroy());
    await new Promise((r) => dropper.listen(0, "127.0.0.1", r));
    try {
      const tried = [];
      const hf = createHoldfast({
        baseUrl: `http://127.0.0.1:${dropper.address().port}`, token: "hf_x", protocol, retries: 2, retryDelayMs: 1,
        onRetry: (method) => tried.push(method),
      });
      const big = "x".repeat(200_000); // still being written when the socket goes
      await assert.rejects(hf.restriction.apply({ account: "ts-drop", kind: "reduce_only", reason: big }), (err) => {
        assert.ok(err instanceof HoldfastError);
        assert.equal(err.code, "unavailable", `${err.message}`);
        return true;
      });
      assert.deepEqual(tried, [], "a write must never be sent twice");
      await assert.rejects(hf.check({ account: "ts-drop", action: "trade", device: big }), { code: "unavailable" });
      assert.deepEqual(tried, ["Check", "Check"], "a check is retried");
      const checker = hf.checker();
      try {
        await assert.rejects(checker.check({ account: "ts-drop", action: "trade", device: big }), { code: "unavailable" });
      } finally {
        checker.close();
      }
    } finally {
      dropper.close();
    }
  });
}
