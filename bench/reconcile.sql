-- The reconcile benchmark's baseline: what `callrecon report` computes, written as one query
-- for the sqlite3 shell, run on the same file. bench/run.sh replaces @FROM@ and @TO@ (the
-- window, Unix seconds), @DELAY@ (the match delay, seconds) and @OUT@ (the CSV path).
--
-- Equivalent in work, simpler in rules:
-- * intended_at is read by SQLite's own date functions (all forms the generator writes);
-- * numbers are normalised by text (digits, +1 for national US formats), not libphonenumber;
-- * rows with a call_sid take that call (SID join); the others take the outbound call to the
--   same number (and caller ID, when the row has one) created in [intended_at - 60 s,
--   intended_at + delay], nearest in time, ties to the lowest SID, never a call another row
--   names by SID. UNLIKE callrecon, a call may be taken by two rows without a SID: the
--   one-claim-per-call rule (rows in intended_at, id order) is sequential and not expressed
--   here;
-- * the outcome is Twilio's status or not-placed/pending; no error-code sources, child legs,
--   follow-ups or audit trail;
-- * like the report, completed rows are left out, the rest sorted by intended_at, id.
.headers on
.mode csv
.output @OUT@
WITH ledger AS (
  SELECT id, external_ref, to_number, from_number, call_sid, create_error_code,
         webhook_status, webhook_error_code, webhook_sip_code,
         CAST(strftime('%s', intended_at) AS INTEGER) AS ts,
         '+' || CASE WHEN trim(to_number) LIKE '+%' THEN '' ELSE '1' END ||
           replace(replace(replace(replace(replace(trim(to_number), '+', ''), '(', ''), ')', ''),
                   '-', ''), ' ', '') AS to_key,
         CASE WHEN from_number IS NULL OR trim(from_number) = '' THEN NULL ELSE
           '+' || CASE WHEN trim(from_number) LIKE '+%' THEN '' ELSE '1' END ||
           replace(replace(replace(replace(replace(trim(from_number), '+', ''), '(', ''), ')', ''),
                   '-', ''), ' ', '') END AS from_key
  FROM intended_calls
),
rows AS (
  SELECT * FROM ledger WHERE ts >= @FROM@ AND ts < @TO@
),
by_sid AS (
  SELECT r.id, c.sid FROM rows r JOIN recon_calls c ON c.sid = r.call_sid
),
candidates AS (
  SELECT r.id, c.sid,
         row_number() OVER (PARTITION BY r.id ORDER BY abs(c.date_created - r.ts), c.sid) AS rank
  FROM rows r
  JOIN recon_calls c ON c.to_norm = r.to_key
                    AND c.date_created BETWEEN r.ts - 60 AND r.ts + @DELAY@
  WHERE r.id NOT IN (SELECT id FROM by_sid)
    AND c.direction IN ('outbound-api', 'outbound-dial')
    AND (r.from_key IS NULL OR c.from_norm = r.from_key)
    AND NOT EXISTS (SELECT 1 FROM intended_calls i WHERE i.call_sid = c.sid AND i.id <> r.id)
),
matched AS (
  SELECT id, sid, 'sid' AS matched_by FROM by_sid
  UNION ALL
  SELECT id, sid, 'heuristic' FROM candidates WHERE rank = 1
)
SELECT r.id AS ledger_id, r.external_ref, r.to_number AS "to", r.from_number AS "from",
       strftime('%Y-%m-%dT%H:%M:%SZ', r.ts, 'unixepoch') AS intended_at,
       c.sid AS call_sid,
       CASE WHEN c.sid IS NOT NULL THEN c.status
            WHEN r.create_error_code IS NOT NULL THEN 'not-placed'
            WHEN r.ts > @TO@ - @DELAY@ THEN 'pending'
            ELSE 'not-placed' END AS outcome,
       c.status AS twilio_status,
       coalesce(r.create_error_code, r.webhook_error_code) AS error_code,
       r.webhook_sip_code AS sip_response_code,
       strftime('%Y-%m-%dT%H:%M:%SZ', c.start_time, 'unixepoch') AS start_time,
       strftime('%Y-%m-%dT%H:%M:%SZ', c.end_time, 'unixepoch') AS end_time,
       c.duration AS duration_s, c.price, c.price_unit, c.direction, c.answered_by,
       m.matched_by, c.account_sid
FROM rows r
LEFT JOIN matched m ON m.id = r.id
LEFT JOIN recon_calls c ON c.sid = m.sid
WHERE c.status IS NOT 'completed'
ORDER BY r.ts, r.id;
.output stdout
