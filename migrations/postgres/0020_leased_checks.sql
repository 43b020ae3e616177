-- The other leased tables' kinds and statuses, and the cases' states,
-- enforced as case_work's are (0019), so the code's enums are the spec:
--   notices.kind:          'card_expiring'  (domain::notice::NoticeKind)
--   notices.status:        'pending', 'skipped', 'no_recipient', 'outbox', 'sending', 'sent', 'failed'
--                          (domain::notice::NoticeStatus; 0003's comment missed skipped)
--   outgoing_events.type:  domain::outgoing::OutgoingType
--   outgoing_events.status: 'pending', 'delivered', 'failed'  (domain::outgoing::OutgoingStatus)
--   cases.state:           NULL (no case opened) or domain::case::CaseState
ALTER TABLE notices ADD CONSTRAINT notices_kind CHECK (kind IN ('card_expiring'));
ALTER TABLE notices ADD CONSTRAINT notices_status CHECK (status IN ('pending', 'skipped', 'no_recipient', 'outbox', 'sending', 'sent', 'failed'));
COMMENT ON COLUMN notices.status IS 'pending, skipped, no_recipient, outbox, sending, sent, failed (domain::notice::NoticeStatus)';
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_type CHECK (type IN ('case.opened', 'case.attempt_failed', 'case.recovered', 'case.canceled', 'case.downgraded', 'case.paused', 'case.closed', 'case.needs_attention'));
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_status CHECK (status IN ('pending', 'delivered', 'failed'));
ALTER TABLE cases ADD CONSTRAINT cases_state CHECK (state IS NULL OR state IN ('open', 'retrying', 'awaiting_customer', 'paused', 'recovered', 'canceled', 'downgraded', 'closed'));
