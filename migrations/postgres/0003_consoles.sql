-- Consoles online: one row per responder's stream connection, so that every hub node knows
-- whether a post has a console to receive a dispatch (post.online / post.offline are recorded
-- when a post's count goes from 0 to 1 and back). `node` is the hub process holding the
-- connection; it refreshes `seen_at`, and rows of a node that stopped refreshing are removed
-- by any other node, so a crashed node's consoles do not stay "online".
CREATE TABLE consoles (
    id            TEXT PRIMARY KEY,
    node          TEXT NOT NULL,
    post_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    connected_at  BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL
);
CREATE INDEX consoles_post ON consoles(post_id);
CREATE INDEX consoles_node ON consoles(node);
