-- The policy comparison counts each case's outcome at a fixed age
-- (recovered within N days of opening, among cases at least N days old),
-- reading a version's cases by when they opened.
CREATE INDEX cases_version_opened ON cases (policy_version, opened_at);
-- The dashboard and the API find a case by the invoice number people see.
CREATE INDEX cases_invoice_number ON cases (invoice_number);
