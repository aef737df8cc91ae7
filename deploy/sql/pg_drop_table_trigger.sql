-- shiftlog: opt-in DROP TABLE capture for a PostgreSQL source (docs/collector-pg.md).
-- pgoutput says nothing of a DROP TABLE; this event trigger says it in the dropping
-- transaction, as a transactional logical decoding message that the collector decodes
-- (prefix shiftlog.drop_table, content "<oid>\n<schema>\n<table>").
-- Run once per source database as a superuser (event triggers need one). SECURITY DEFINER:
-- pg_logical_emit_message is not executable by PUBLIC, and the owner's right is used whoever
-- drops the table.
CREATE OR REPLACE FUNCTION public.shiftlog_drop_table() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    o record;
BEGIN
    FOR o IN SELECT objid, schema_name, object_name FROM pg_event_trigger_dropped_objects()
             WHERE object_type = 'table' AND NOT is_temporary LOOP
        PERFORM pg_logical_emit_message(true, 'shiftlog.drop_table',
                                        o.objid::text || E'\n' || o.schema_name || E'\n' ||
                                        o.object_name);
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION public.shiftlog_drop_table() FROM PUBLIC;
DROP EVENT TRIGGER IF EXISTS shiftlog_drop_table;
CREATE EVENT TRIGGER shiftlog_drop_table ON sql_drop
    EXECUTE FUNCTION public.shiftlog_drop_table();
