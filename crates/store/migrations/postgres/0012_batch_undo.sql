-- A gated batch is written by one statement (see the store's batch_pg). When part of it is refused
-- (a quota reached, the gate fence moved, units missing), the statement
-- ends itself with this error, which undoes everything it wrote; the batch is then written one
-- reservation at a time, each decided alone.
CREATE FUNCTION flashgate_batch_undone() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'flashgate: part of a gated batch was refused; it is written one by one'
        USING ERRCODE = 'FGB01';
END
$$;
