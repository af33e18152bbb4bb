// The seed tutorial's Express app (sections 2-5), the baseline that bench/run measures
// the Rust steps against. Same routes and the same texts as the steps:
//
//   GET  /           visit counter: "Welcome! First visit." / "Number of visits: N"
//   POST /login      form or JSON {"username":"admin","password":"1234"}
//   GET  /dashboard  "Welcome user 1 to the dashboard", or 401 "Unauthorized"
//   POST /logout     destroys the session
//
// Environment:
//   PORT             port on 127.0.0.1 (default 3000)
//   SESSION_STORE    "memory" (default: express-session's MemoryStore, like steps 1-3)
//                    or "sqlite" (better-sqlite3-session-store, like step 4)
//   DATABASE_URL     the SQLite file, as "sqlite:///tmp/x.db" or a plain path
//                    (default express-sessions.db)
//   SQLITE_SYNCHRONOUS  NORMAL (default) or FULL; the journal is always WAL.
//
// Durability, set explicitly to match step 4 (step4-persistent/src/store.rs):
// journal_mode=WAL and synchronous=NORMAL. better-sqlite3 commits each session write
// before the response is sent, and with WAL + NORMAL a commit is written to the -wal file
// (into the operating system's cache) before it returns, so an acknowledged login survives
// the server being killed with kill -9. Only a power cut or kernel crash could lose the
// last commits; SQLITE_SYNCHRONOUS=FULL (an fsync per commit) guards against that too.
'use strict';

const express = require('express');
const session = require('express-session');

const port = Number.parseInt(process.env.PORT || '3000', 10);
const storeKind = (process.env.SESSION_STORE || 'memory').toLowerCase();

function makeStore() {
  if (storeKind === 'memory') return undefined; // express-session's default MemoryStore
  if (storeKind !== 'sqlite') {
    console.error(`error: SESSION_STORE must be "memory" or "sqlite", not ${JSON.stringify(storeKind)}`);
    process.exit(1);
  }
  const Database = require('better-sqlite3');
  const SqliteStore = require('better-sqlite3-session-store')(session);
  const url = process.env.DATABASE_URL || 'express-sessions.db';
  const file = url.replace(/^sqlite:(\/\/)?/, '').replace(/\?.*$/, '');
  const synchronous = (process.env.SQLITE_SYNCHRONOUS || 'NORMAL').toUpperCase();
  if (!['FULL', 'NORMAL', 'EXTRA'].includes(synchronous)) {
    console.error(`error: SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA, not ${JSON.stringify(synchronous)}`);
    process.exit(1);
  }
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 5000');
  console.log(
    `sqlite store ${file}: journal_mode=${db.pragma('journal_mode', { simple: true })}, ` +
      `synchronous=${db.pragma('synchronous', { simple: true })} (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA)`,
  );
  // Expired rows are swept every 15 minutes, the store's default.
  return new SqliteStore({ client: db });
}

const app = express();
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
app.use(
  session({
    secret: 'mysecretkey',
    resave: false,
    saveUninitialized: true,
    store: makeStore(),
    cookie: { maxAge: 60000 },
  }),
);

app.get('/', (req, res) => {
  if (req.session.views) {
    req.session.views++;
    res.send(`Number of visits: ${req.session.views}`);
  } else {
    req.session.views = 1;
    res.send('Welcome! First visit.');
  }
});

// Dummy user
const user = { id: 1, username: 'admin', password: '1234' };

app.post('/login', (req, res) => {
  const { username, password } = req.body || {};
  const json = req.is('application/json');
  if (username === user.username && password === user.password) {
    req.session.userId = user.id;
    return json ? res.json({ message: 'Logged in successfully' }) : res.send('Logged in successfully');
  }
  res.status(401);
  return json ? res.json({ message: 'Invalid credentials' }) : res.send('Invalid credentials');
});

app.get('/dashboard', (req, res) => {
  if (!req.session.userId) return res.status(401).send('Unauthorized');
  res.send(`Welcome user ${req.session.userId} to the dashboard`);
});

app.post('/logout', (req, res) => {
  req.session.destroy((err) => {
    if (err) return res.status(500).send('Could not log out');
    res.clearCookie('connect.sid');
    res.send('Logged out successfully');
  });
});

const server = app.listen(port, '127.0.0.1', () => {
  const { address, port: actual } = server.address();
  console.log(`listening on http://${address}:${actual}`);
});
server.on('error', (err) => {
  console.error(`error: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
