-- The country of the customer's own address at the processor (read when
-- the events did not place them): a case not yet retried moves to its clock.
ALTER TABLE customers ADD COLUMN country TEXT;
