-- Where a case's time zone came from: invoice_address, card_country or
-- policy_default (NULL: a case from before this was kept, on the default).
ALTER TABLE cases ADD COLUMN timezone_source TEXT;
