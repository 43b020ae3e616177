-- The other leased tables' kinds and statuses, and the cases' states,
-- enforced as case_work's are (0018), so the code's enums are the spec.
-- SQLite cannot add a CHECK to a table it has: triggers refuse any other value.
--   notices.kind:          'card_expiring'  (domain::notice::NoticeKind)
--   notices.status:        'pending', 'skipped', 'no_recipient', 'outbox', 'sending', 'sent', 'failed'
--                          (domain::notice::NoticeStatus; 0003's comment missed skipped)
--   outgoing_events.type:  domain::outgoing::OutgoingType
--   outgoing_events.status: 'pending', 'delivered', 'failed'  (domain::outgoing::OutgoingStatus)
--   cases.state:           NULL (no case opened) or domain::case::CaseState
CREATE TRIGGER notices_values_on_insert BEFORE INSERT ON notices
WHEN NEW.kind NOT IN ('card_expiring')
  OR NEW.status NOT IN ('pending', 'skipped', 'no_recipient', 'outbox', 'sending', 'sent', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'notices: unknown kind or status');
END;
CREATE TRIGGER notices_values_on_update BEFORE UPDATE OF kind, status ON notices
WHEN NEW.kind NOT IN ('card_expiring')
  OR NEW.status NOT IN ('pending', 'skipped', 'no_recipient', 'outbox', 'sending', 'sent', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'notices: unknown kind or status');
END;
CREATE TRIGGER outgoing_events_values_on_insert BEFORE INSERT ON outgoing_events
WHEN NEW.type NOT IN ('case.opened', 'case.attempt_failed', 'case.recovered', 'case.canceled', 'case.downgraded', 'case.paused', 'case.closed', 'case.needs_attention')
  OR NEW.status NOT IN ('pending', 'delivered', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'outgoing_events: unknown type or status');
END;
CREATE TRIGGER outgoing_events_values_on_update BEFORE UPDATE OF type, status ON outgoing_events
WHEN NEW.type NOT IN ('case.opened', 'case.attempt_failed', 'case.recovered', 'case.canceled', 'case.downgraded', 'case.paused', 'case.closed', 'case.needs_attention')
  OR NEW.status NOT IN ('pending', 'delivered', 'failed')
BEGIN
    SELECT RAISE(ABORT, 'outgoing_events: unknown type or status');
END;
CREATE TRIGGER cases_values_on_insert BEFORE INSERT ON cases
WHEN NEW.state IS NOT NULL AND NEW.state NOT IN ('open', 'retrying', 'awaiting_customer', 'paused', 'recovered', 'canceled', 'downgraded', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'cases: unknown state');
END;
CREATE TRIGGER cases_values_on_update BEFORE UPDATE OF state ON cases
WHEN NEW.state IS NOT NULL AND NEW.state NOT IN ('open', 'retrying', 'awaiting_customer', 'paused', 'recovered', 'canceled', 'downgraded', 'closed')
BEGIN
    SELECT RAISE(ABORT, 'cases: unknown state');
END;
