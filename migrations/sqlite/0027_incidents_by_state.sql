-- The wall's and every console's list of open incidents reads by state, newest first. Without
-- an index on state it walked the whole history by creation time to find the few still open.
-- The partial index serves the open list whatever the planner knows of the table (a plan made
-- before statistics exist walks `incidents_created` backwards otherwise): its condition is
-- the list `IncidentFilter::open` asks for (`IncidentState::OPEN`), in the same words. The
-- other serves any other choice of states.
CREATE INDEX incidents_state_created ON incidents(state, created_at);
CREATE INDEX incidents_open_created ON incidents(created_at)
    WHERE state IN ('raised', 'dispatched', 'acknowledged', 'en_route', 'on_scene');
