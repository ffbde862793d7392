-- Cases (work orders) and what shapes them: categories, departments,
-- deadlines and each district's case policy.

CREATE TABLE case_categories (
    district TEXT NOT NULL REFERENCES districts(id),
    code TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category_group TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, code)
);

-- A department sits at a tier; unit_id names its grid, community or street
-- (NULL at the district and city tiers). members is a JSON list of account ids.
CREATE TABLE departments (
    district TEXT NOT NULL REFERENCES districts(id),
    id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    tier TEXT NOT NULL,
    unit_id TEXT,
    members TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (district, id)
);

-- Time limits in minutes per category ('*' for any) and priority.
CREATE TABLE case_deadlines (
    district TEXT NOT NULL REFERENCES districts(id),
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    accept_minutes BIGINT NOT NULL,
    handle_minutes BIGINT NOT NULL,
    verify_minutes BIGINT NOT NULL,
    PRIMARY KEY (district, category, priority)
);

CREATE TABLE case_policies (
    district TEXT PRIMARY KEY NOT NULL REFERENCES districts(id),
    reopen_days BIGINT NOT NULL,
    auto_escalate BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- version is bumped by every change; a transition is a compare-and-set on it.
-- deadline_at is when the current phase's time limit runs out (NULL when
-- none runs); overdue is set by the deadline sweep.
CREATE TABLE cases (
    id BIGSERIAL PRIMARY KEY,
    district TEXT NOT NULL REFERENCES districts(id),
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    state TEXT NOT NULL,
    tier TEXT NOT NULL,
    grid_id TEXT,
    community_id TEXT,
    street_id TEXT,
    building_id TEXT,
    address TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    description TEXT NOT NULL,
    resident_id TEXT,
    reporter_kind TEXT NOT NULL,
    reporter_id TEXT NOT NULL,
    assignee_kind TEXT,
    assignee_id TEXT,
    attachments TEXT NOT NULL,
    deadline_at BIGINT,
    overdue BIGINT NOT NULL,
    satisfaction BIGINT,
    evaluation TEXT,
    token TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT
);

CREATE INDEX cases_by_district ON cases (district, id);
CREATE INDEX cases_by_state ON cases (district, state, id);
CREATE INDEX cases_by_tier ON cases (district, tier, id);
CREATE INDEX cases_by_category ON cases (district, category, id);
CREATE INDEX cases_by_grid ON cases (district, grid_id, id);
CREATE INDEX cases_by_assignee ON cases (district, assignee_id, id);
CREATE INDEX cases_by_overdue ON cases (district, overdue, id);
CREATE INDEX cases_by_reporter ON cases (district, reporter_kind, reporter_id, id);
CREATE INDEX cases_by_deadline ON cases (deadline_at);
CREATE UNIQUE INDEX cases_by_token ON cases (token);

CREATE TABLE case_history (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases(id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    from_tier TEXT NOT NULL,
    to_tier TEXT NOT NULL,
    note TEXT
);

CREATE INDEX case_history_by_case ON case_history (case_id, id);

-- Changes to be told to the app that opened a case, delivered in order per
-- case and retried; claimed_until keeps two processes off one notice.
CREATE TABLE case_notices (
    id BIGSERIAL PRIMARY KEY,
    district TEXT NOT NULL,
    app TEXT NOT NULL,
    case_id BIGINT NOT NULL,
    history_id BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    last_error TEXT,
    dead BIGINT NOT NULL
);

CREATE INDEX case_notices_due ON case_notices (dead, next_at);
CREATE INDEX case_notices_by_case ON case_notices (case_id, id);
