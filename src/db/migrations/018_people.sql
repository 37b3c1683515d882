-- People who sign in to Kasa's own pages: operators, merchants' staff and traders; their
-- sessions, one-time set-password links, sign-in attempt counters and the audit log.

-- One user signs in with one email. Emails are unique whatever their case (the unique index on
-- lower(email)); a merchant user belongs to exactly one merchant with one role there, a trader
-- user to exactly one trader, an operator to neither.
CREATE TABLE users (
  id               uuid PRIMARY KEY,
  email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role             text NOT NULL CHECK (role IN ('operator', 'merchant', 'trader')),
  merchant_id      uuid REFERENCES merchants (id),
  merchant_role    text CHECK (merchant_role IN ('owner', 'developer', 'viewer')),
  trader_id        uuid REFERENCES traders (id),
  status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  -- scrypt$N$r$p$salt$hash (base64url); null until the user sets a password through their link.
  password_hash    text,
  -- AES-256-GCM of the TOTP secret under the installation's secret key; null: not enrolled.
  totp_secret      text,
  -- Only the demo's users may sign in without TOTP where their role requires it.
  totp_exempt      boolean NOT NULL DEFAULT false,
  -- The 30-second step of the last code accepted: a code is good once, never replayed.
  totp_last_step   bigint,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  CHECK ((role = 'merchant') = (merchant_id IS NOT NULL AND merchant_role IS NOT NULL)),
  CHECK (role = 'merchant' OR merchant_role IS NULL),
  CHECK ((role = 'trader') = (trader_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));
CREATE INDEX users_merchant ON users (merchant_id, created_at, id) WHERE merchant_id IS NOT NULL;
CREATE INDEX users_trader ON users (trader_id, created_at, id) WHERE trader_id IS NOT NULL;
CREATE INDEX users_created ON users (created_at, id);

-- One-time recovery codes for a lost TOTP device, stored as SHA-256 (each is 50+ random bits).
CREATE TABLE user_recovery_codes (
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  code_hash  bytea NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

-- A link that lets its holder set the user's password once, within its validity.
CREATE TABLE password_links (
  token_hash  bytea PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz
);
CREATE INDEX password_links_user ON password_links (user_id);

-- A signed-in browser. The cookie holds the token; only its SHA-256 is stored, so a copy of the
-- database signs no one in. stage 'totp': the password was right, the code is still owed.
CREATE TABLE sessions (
  token_hash    bytea PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  stage         text NOT NULL CHECK (stage IN ('totp', 'full')),
  ip            text NOT NULL,
  created_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Failed sign-ins per account (the lowercased email, whether or not a user has it, so the
-- counter tells nothing) and per client address, counted in a fixed window. The counter is
-- taken before the password is checked, in one statement, so parallel attempts on any number
-- of instances are counted exactly.
CREATE TABLE sign_in_attempts (
  scope         text NOT NULL CHECK (scope IN ('account', 'ip')),
  subject       text NOT NULL CHECK (length(subject) <= 320),
  window_start  timestamptz NOT NULL,
  failures      integer NOT NULL CHECK (failures >= 0),
  PRIMARY KEY (scope, subject)
);

-- Who changed what, when, from where. merchant_id: the merchant the change concerns, so its
-- owners read their own rows; before/after hold the changed fields, never a secret.
CREATE TABLE audit_log (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           timestamptz NOT NULL,
  actor_kind   text NOT NULL CHECK (actor_kind IN ('user', 'admin_token', 'system')),
  actor_id     uuid,
  actor_email  text,
  ip           text,
  action       text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
  target       text NOT NULL CHECK (length(target) BETWEEN 1 AND 200),
  merchant_id  uuid,
  before       jsonb,
  after        jsonb
);
CREATE INDEX audit_log_merchant ON audit_log (merchant_id, id DESC) WHERE merchant_id IS NOT NULL;
