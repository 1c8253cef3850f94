-- A post's console lists the incidents of its post closed in the last days
-- (`GET /api/v1/incidents?state=closed&post_id=&closed_since=`, newest close first), at every
-- reconnection: by post and close time, without walking the post's whole history.
CREATE INDEX incidents_post_closed ON incidents (post_id, closed_at);
