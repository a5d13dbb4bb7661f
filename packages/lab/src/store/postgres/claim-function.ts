/**
 * The claim, as one server-side function (migration 3): pick and lock a warm sandbox, check the
 * quotas, write the session (its labels and its token), bind the sandbox, and append the audit
 * entry and the `session.created` event, in one statement and so one round trip. As separate
 * statements in a transaction the claim took seven round trips, each a wake-up of the server
 * and of the gateway: most of a warm start's time on PostgreSQL (docs/operations.md).
 *
 * What it does, statement by statement, is what the transaction of separate statements did:
 * - the pick: the pool's oldest warm sandbox, `FOR UPDATE SKIP LOCKED` (a row another claim
 *   holds is skipped, so parallel claims from any replica each lock a different one), or a given
 *   sandbox, `FOR UPDATE` (a cold start's own: if the claim holding it rolls back, this one still
 *   gets it);
 * - the quotas: a transaction advisory lock on the user (namespace 1) and one on the key
 *   (namespace 2), always in that order, then the counts in a later statement. A VOLATILE
 *   function takes a new snapshot for every statement under READ COMMITTED, so the counts see
 *   what the previous holder of the lock committed: exact across replicas;
 * - the writes, and the event's id from `log_sequence` (logs.ts explains why ids come from
 *   there), then a notification on the events channel, delivered at commit.
 *
 * The quota arithmetic is store/admission.ts's, written again in SQL; the function returns the
 * counts it decided on, and the caller runs admission.ts on them to throw the refusal, so a
 * disagreement between the two cannot pass unnoticed (claim.ts).
 *
 * Outcomes: `claimed` (the sandbox's row as it was picked), `none` (no warm sandbox: nothing
 * written), `refused` (a quota: nothing written, the counts returned).
 */
export const CLAIM_FUNCTION_V1 = `
CREATE FUNCTION lab_claim_v1(
  p_pool TEXT, p_sandbox_id TEXT,
  p_session_id TEXT, p_user TEXT, p_warm BOOLEAN, p_created_at BIGINT, p_env_names JSONB, p_network JSONB,
  p_credentials TEXT, p_key_id TEXT, p_labels JSONB, p_expires_at BIGINT, p_idle_timeout_s INTEGER, p_now BIGINT,
  p_token_hash TEXT, p_token_expires_at BIGINT,
  p_max_per_user INTEGER, p_quota_key TEXT, p_max_per_key INTEGER, p_creates_per_min INTEGER,
  p_actor TEXT, p_audit_details JSONB, p_event_data JSONB, p_channel TEXT, p_writer TEXT)
RETURNS TABLE (
  o_outcome TEXT, o_id TEXT, o_pool TEXT, o_state TEXT, o_created_at BIGINT, o_ready_at BIGINT, o_claimed_at BIGINT,
  o_session_id TEXT, o_handle JSONB, o_by_user BIGINT, o_by_key BIGINT, o_tokens DOUBLE PRECISION, o_bucket_at BIGINT)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
  sb RECORD;
  v_by_user BIGINT := 0;
  v_by_key BIGINT := 0;
  v_b_tokens DOUBLE PRECISION;
  v_b_at BIGINT;
  v_tokens DOUBLE PRECISION;
  v_event_id BIGINT;
BEGIN
  IF p_sandbox_id IS NULL THEN
    SELECT id, pool, state, created_at, ready_at, claimed_at, session_id, handle INTO sb FROM sandboxes WHERE pool = p_pool AND state = 'warm'
      ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED;
  ELSE
    SELECT id, pool, state, created_at, ready_at, claimed_at, session_id, handle INTO sb FROM sandboxes WHERE id = p_sandbox_id AND pool = p_pool AND state = 'warm' FOR UPDATE;
  END IF;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'none'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT,
      NULL::TEXT, NULL::JSONB, NULL::BIGINT, NULL::BIGINT, NULL::DOUBLE PRECISION, NULL::BIGINT;
    RETURN;
  END IF;

  IF p_max_per_user IS NOT NULL THEN PERFORM pg_advisory_xact_lock(1, hashtext(p_user)); END IF;
  IF p_quota_key IS NOT NULL THEN PERFORM pg_advisory_xact_lock(2, hashtext(p_quota_key)); END IF;
  IF p_max_per_user IS NOT NULL OR p_quota_key IS NOT NULL THEN
    SELECT (SELECT COUNT(*) FROM sessions s WHERE s."user" = p_user AND s.ended_at IS NULL),
           (SELECT COUNT(*) FROM sessions s WHERE s.key_id = p_quota_key AND s.ended_at IS NULL)
      INTO v_by_user, v_by_key;
    SELECT b.tokens, b.updated_at INTO v_b_tokens, v_b_at FROM rate_buckets b WHERE b.key_id = p_quota_key;
    IF (p_max_per_user IS NOT NULL AND v_by_user >= p_max_per_user)
       OR (p_quota_key IS NOT NULL AND p_max_per_key IS NOT NULL AND v_by_key >= p_max_per_key) THEN
      RETURN QUERY SELECT 'refused'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT,
        NULL::TEXT, NULL::JSONB, v_by_user, v_by_key, v_b_tokens, v_b_at;
      RETURN;
    END IF;
    IF p_quota_key IS NOT NULL AND p_creates_per_min IS NOT NULL THEN
      v_tokens := CASE WHEN v_b_at IS NULL THEN p_creates_per_min::DOUBLE PRECISION
        ELSE LEAST(p_creates_per_min::DOUBLE PRECISION,
          v_b_tokens + GREATEST(0, p_now - v_b_at)::DOUBLE PRECISION * (p_creates_per_min::DOUBLE PRECISION / 60000)) END;
      IF v_tokens < 1 THEN
        RETURN QUERY SELECT 'refused'::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT,
          NULL::TEXT, NULL::JSONB, v_by_user, v_by_key, v_b_tokens, v_b_at;
        RETURN;
      END IF;
      INSERT INTO rate_buckets (key_id, tokens, updated_at) VALUES (p_quota_key, v_tokens - 1, p_now)
        ON CONFLICT (key_id) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;
    END IF;
  END IF;

  INSERT INTO sessions (id, "user", pool, sandbox_id, state, warm, created_at, env_names, network, credentials, key_id,
    labels, expires_at, idle_timeout_s)
    VALUES (p_session_id, p_user, p_pool, sb.id, 'starting', p_warm, p_created_at, p_env_names, p_network, p_credentials,
      p_key_id, p_labels, p_expires_at, p_idle_timeout_s);
  INSERT INTO session_labels (session_id, key, value) SELECT p_session_id, l.key, l.value FROM jsonb_each_text(p_labels) l;
  IF p_token_hash IS NOT NULL THEN
    INSERT INTO attach_tokens (token_hash, session_id, expires_at) VALUES (p_token_hash, p_session_id, p_token_expires_at)
      ON CONFLICT (token_hash) DO UPDATE SET session_id = excluded.session_id, expires_at = excluded.expires_at;
  END IF;
  UPDATE sandboxes SET state = 'claimed', session_id = p_session_id, claimed_at = p_now WHERE id = sb.id AND state = 'warm';
  IF NOT FOUND THEN
    -- Cannot happen while the row is locked; a guard against a broken query.
    RAISE EXCEPTION 'sandbox % stopped being warm during its claim', sb.id;
  END IF;
  UPDATE log_sequence SET last_event_id = last_event_id + 1 WHERE id = 1 RETURNING last_event_id INTO v_event_id;
  INSERT INTO audit (at, actor, key_id, action, target, details)
    VALUES (p_now, p_actor, p_key_id, 'session.create', p_session_id, p_audit_details);
  INSERT INTO events (id, at, type, pool, "user", session_id, data)
    VALUES (v_event_id, p_now, 'session.created', p_pool, p_user, p_session_id, p_event_data);
  PERFORM pg_notify(p_channel, p_writer);
  RETURN QUERY SELECT 'claimed'::TEXT, sb.id, sb.pool, sb.state, sb.created_at, sb.ready_at, sb.claimed_at,
    sb.session_id, sb.handle, v_by_user, v_by_key, v_b_tokens, v_b_at;
END
$fn$;
`

/**
 * A create's `starting` row, written only while the pool has fewer than `p_max` sandboxes not
 * being destroyed, counted over every replica's (migration 3 too). The count follows a
 * transaction advisory lock on the pool, in a later statement of a VOLATILE function, so it sees
 * every insert committed before the lock was granted: exact across replicas. One round trip, and
 * the lock is held only while the function runs, not across round trips: a transaction of
 * separate statements held it for four, and parallel creates queued on it while holding
 * connections of the pool the claims need.
 */
export const INSERT_SANDBOX_FUNCTION_V1 = `
CREATE FUNCTION lab_insert_sandbox_v1(p_id TEXT, p_pool TEXT, p_created_at BIGINT, p_max INTEGER) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('sandboxes:' || p_pool, 0));
  INSERT INTO sandboxes (id, pool, state, created_at) SELECT p_id, p_pool, 'starting', p_created_at
    WHERE (SELECT COUNT(*) FROM sandboxes WHERE pool = p_pool AND state <> 'destroying') < p_max;
  RETURN FOUND;
END
$fn$;
`

/**
 * Generic plans for the functions' statements (migration 5). A plpgsql statement is planned
 * again on each of its first five calls in every connection, and after that too whenever the
 * planner guesses a custom plan cheaper, which here it does: every claim paid for planning the
 * pick, the inserts and the event. The generic plans are the same plans (each statement has
 * its index: sandboxes_pool_state for the pick, the primary keys and sessions_open_* for the
 * counts), planned once per connection. Measured with `infra-lab bench replicas`: warm start
 * p50 on PostgreSQL from 1.77x SQLite's to 1.6x in the same runs.
 */
export const GENERIC_PLANS_V1 = `
ALTER FUNCTION lab_claim_v1(TEXT, TEXT, TEXT, TEXT, BOOLEAN, BIGINT, JSONB, JSONB, TEXT, TEXT, JSONB, BIGINT, INTEGER, BIGINT,
  TEXT, BIGINT, INTEGER, TEXT, INTEGER, INTEGER, TEXT, JSONB, JSONB, TEXT, TEXT) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lab_insert_sandbox_v1(TEXT, TEXT, BIGINT, INTEGER) SET plan_cache_mode = force_generic_plan;
`

/**
 * A session's `starting -> running` and its `session.running` event (migration 5), the one
 * write of every session after its claim. It was one statement of three CTEs, planned at every
 * bind of its first five in each connection (and often after): the replicas benchmark's
 * connections are young, so a tenth of a millisecond of planning per claim, more with more
 * replicas (more connections). As a function its statements are planned once per connection.
 * The log's rules are logs.ts's (the id from log_sequence, whose row is held until commit, and
 * a notification at commit). Returns the event's id, or NULL (and writes nothing) when the
 * session was not `starting`.
 */
export const MARK_RUNNING_FUNCTION_V1 = `
CREATE FUNCTION lab_mark_running_v1(p_id TEXT, p_timings JSONB, p_now BIGINT, p_channel TEXT, p_writer TEXT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  v_pool TEXT;
  v_user TEXT;
  v_event_id BIGINT;
BEGIN
  UPDATE sessions SET state = 'running', timings = p_timings WHERE id = p_id AND state = 'starting' RETURNING pool, "user" INTO v_pool, v_user;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  UPDATE log_sequence SET last_event_id = last_event_id + 1 WHERE id = 1 RETURNING last_event_id INTO v_event_id;
  INSERT INTO events (id, at, type, pool, "user", session_id, data)
    VALUES (v_event_id, p_now, 'session.running', v_pool, v_user, p_id, '{}'::jsonb);
  PERFORM pg_notify(p_channel, p_writer);
  RETURN v_event_id;
END
$fn$;
`
