//! SQLite's write turn, and group commit for the engine's transactions.
//!
//! SQLite has one write lock and its busy handler polls with growing sleeps,
//! so a writer that commits back to back starves the others: every writer of
//! the main database in this process takes this first-come-first-served turn
//! before it writes (the intake writes its own log file, `intake_log`).
//!
//! A commit with `synchronous = FULL` waits for the disk (an `fsync`, about
//! half a millisecond here, longer than a job's statements). So the engine's
//! transactions (`Store::begin`) share one: each runs in the open *batch*
//! while it holds the turn, inside a savepoint when earlier members wait in
//! it, and its `commit` waits until the batch is on disk. The holder whose
//! commit finds nobody waiting for the turn (or the batch full or old)
//! commits the batch for everyone. Nothing is reported committed before it
//! is durable, and nothing waits longer than `FLUSH_AFTER` for a commit: a
//! member still waiting then takes the turn and commits the batch itself.
//!
//! A member dropped without `commit` (an error, a cancelled request) is
//! undone by the next holder of the turn before anything else runs: rolled
//! back to its savepoint, the other members untouched (savepoints nest and
//! are never released: `COMMIT` ends them all, and `ROLLBACK TO` finds the
//! latest), or, alone in the batch, with the batch. A batch whose `COMMIT`
//! fails, or whose savepoint cannot be rolled back (SQLite ended the
//! transaction), is rolled back whole and every member learns so.
//!
//! Every statement is a round trip to the connection's thread (about 50 µs
//! here, five times what SQLite takes to run it), so a member costs no
//! statement it can do without: no `RELEASE`, no savepoint when alone.
//!
//! Plain writers (`WriteTurn::take`: claims, leases, the intake pump) write
//! through the pool on a connection of their own, so they commit the open
//! batch before they start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard, oneshot};

/// A batch this large commits at once (bounds the WAL an open batch holds).
const MAX_MEMBERS: usize = 64;
/// A batch this old commits at once (bounds a member's wait for the disk).
const MAX_AGE: Duration = Duration::from_millis(20);
/// A member still waiting for its batch after this long commits it itself.
const FLUSH_AFTER: Duration = Duration::from_millis(50);

/// The process's turn to write the main SQLite database; holding it is
/// holding the open batch.
#[derive(Clone, Debug, Default)]
pub struct WriteTurn(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    batch: Arc<Mutex<Batch>>,
    /// Tasks waiting for the turn: a member that sees none commits.
    waiting: AtomicUsize,
    /// Batches committed (tests and benches compare with members).
    commits: AtomicU64,
}

/// What a member's commit learns: committed, or why not.
type Outcome = Result<(), Arc<str>>;

/// The open transaction that members share, on a connection the batch
/// keeps: a batch never waits for a connection while it holds the turn
/// (under load the pool's connections are all reading).
#[derive(Debug, Default)]
pub struct Batch {
    conn: Option<PoolConnection<Sqlite>>,
    /// A transaction is open on `conn`.
    open: bool,
    /// Members done with their part, waiting for the disk.
    members: Vec<oneshot::Sender<Outcome>>,
    /// A member left without committing: what undoes it.
    undo: Option<Undo>,
    opened: Option<Instant>,
}

/// How to undo a member that left without committing.
#[derive(Debug, Clone, Copy)]
enum Undo {
    /// Roll back to its savepoint.
    Savepoint,
    /// It was alone in the batch: roll the batch back.
    Batch,
}

/// One engine transaction on SQLite: its part of the open batch, holding
/// the turn until `commit` or drop.
pub struct Member {
    guard: Option<OwnedMutexGuard<Batch>>,
    turn: WriteTurn,
    undo: Undo,
}

impl WriteTurn {
    async fn lock(&self) -> MutexGuard<'_, Batch> {
        let _waiting = Waiting::count(&self.0.waiting);
        self.0.batch.lock().await
    }

    async fn lock_owned(&self) -> OwnedMutexGuard<Batch> {
        let _waiting = Waiting::count(&self.0.waiting);
        self.0.batch.clone().lock_owned().await
    }

    /// The turn for a plain writer: the open batch is committed first, so
    /// the caller's own connection can take the write lock.
    pub async fn take(&self) -> TurnGuard<'_> {
        let mut guard = self.lock().await;
        self.settle(&mut guard).await;
        TurnGuard(guard)
    }

    /// Joins the open batch (opening one with `BEGIN IMMEDIATE` on a
    /// connection of `pool` when none is), in a savepoint of its own when
    /// members wait in it.
    pub async fn join(&self, pool: &SqlitePool) -> anyhow::Result<Member> {
        let mut guard = self.lock_owned().await;
        guard.undo_left_member().await;
        if !guard.open {
            guard.forget_interrupted();
            if guard.conn.is_none() {
                guard.conn = Some(pool.acquire().await?);
            }
            // IMMEDIATE: the write lock now, not a failed upgrade later.
            if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(guard.conn()).await {
                guard.discard_conn();
                return Err(e.into());
            }
            guard.open = true;
            guard.opened = Some(Instant::now());
        }
        let undo = if guard.members.is_empty() {
            Undo::Batch
        } else {
            let savepoint = sqlx::query("SAVEPOINT member").execute(guard.conn()).await;
            if let Err(e) = savepoint {
                guard
                    .abort(&format!("opening a savepoint failed: {e}"))
                    .await;
                return Err(e.into());
            }
            Undo::Savepoint
        };
        Ok(Member {
            guard: Some(guard),
            turn: self.clone(),
            undo,
        })
    }

    /// Commits the open batch and gives its connection back to the pool
    /// (before the pool closes, which waits for every connection).
    pub async fn close(&self) {
        let mut guard = self.lock().await;
        self.settle(&mut guard).await;
        guard.conn = None;
    }

    /// Commits `batch` (held with the turn) and counts the commit.
    async fn settle(&self, batch: &mut Batch) {
        if batch.settle().await {
            self.0.commits.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Batches committed so far.
    pub fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::Relaxed)
    }
}

/// One task counted as waiting for the turn while this lives: a waiter
/// that is cancelled (its task aborted) is not counted on for ever.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A plain writer's turn (no batch open while it is held).
pub struct TurnGuard<'a>(#[allow(dead_code)] MutexGuard<'a, Batch>);

impl Batch {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("the batch has a connection")
    }

    /// Closes the connection instead of giving it back to the pool: it may
    /// still be inside a transaction.
    fn discard_conn(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
        self.open = false;
    }

    /// Members left waiting by a committer that was cancelled mid-commit:
    /// whether their batch is on disk is not known, so it is not claimed.
    fn forget_interrupted(&mut self) {
        if !self.members.is_empty() {
            self.tell(Err("the commit was interrupted".into()));
        }
    }

    /// Undoes a member that left without committing: back to its
    /// savepoint, or the whole batch (when that fails, or it was alone).
    async fn undo_left_member(&mut self) {
        let Some(undo) = self.undo.take() else {
            return;
        };
        if !self.open {
            return;
        }
        match undo {
            // Alone: nobody else's work is in it.
            Undo::Batch => self.roll_back().await,
            Undo::Savepoint => {
                let undone = sqlx::query("ROLLBACK TO member").execute(self.conn()).await;
                if let Err(e) = undone {
                    self.abort(&format!("undoing a failed transaction failed: {e}"))
                        .await;
                }
            }
        }
    }

    /// Commits the open batch (after undoing a member that left) and tells
    /// its members; returns whether a batch was committed.
    async fn settle(&mut self) -> bool {
        self.undo_left_member().await;
        if !self.open {
            self.forget_interrupted();
            return false;
        }
        // Closed before the await: a committer cancelled here leaves the
        // COMMIT queued on the connection, ahead of anything after it.
        self.open = false;
        self.opened = None;
        match sqlx::query("COMMIT").execute(self.conn()).await {
            Ok(_) => {
                self.tell(Ok(()));
                true
            }
            Err(e) => {
                // A failed COMMIT (a deferred constraint, a full disk) can
                // leave the transaction open.
                self.open = true;
                self.abort(&format!("committing failed: {e}")).await;
                false
            }
        }
    }

    /// Rolls the open batch back and tells its members why.
    async fn abort(&mut self, why: &str) {
        tracing::error!(
            why,
            members = self.members.len(),
            "a group commit was rolled back"
        );
        self.roll_back().await;
        self.tell(Err(format!("the transaction was rolled back: {why}").into()));
    }

    async fn roll_back(&mut self) {
        if std::mem::take(&mut self.open)
            && sqlx::query("ROLLBACK").execute(self.conn()).await.is_err()
        {
            self.discard_conn();
        }
        self.opened = None;
    }

    fn tell(&mut self, outcome: Outcome) {
        for member in self.members.drain(..) {
            let _ = member.send(outcome.clone());
        }
    }

    fn full(&self) -> bool {
        self.members.len() >= MAX_MEMBERS || self.opened.is_some_and(|t| t.elapsed() >= MAX_AGE)
    }
}

impl Member {
    pub fn conn(&mut self) -> &mut SqliteConnection {
        self.guard.as_mut().expect("a live member").conn()
    }

    /// Ends this transaction: returns once it is on disk, or with why not.
    pub async fn commit(mut self) -> anyhow::Result<()> {
        let mut guard = self.guard.take().expect("a live member");
        let (tell, told) = oneshot::channel();
        guard.members.push(tell);
        let last = guard.full() || self.turn.0.waiting.load(Ordering::SeqCst) == 0;
        if last {
            self.turn.settle(&mut guard).await;
        }
        drop(guard);
        tokio::pin!(told);
        let outcome = tokio::select! {
            outcome = &mut told => outcome,
            () = tokio::time::sleep(FLUSH_AFTER) => {
                // Whoever took the turn after us did not commit: we do.
                drop(self.turn.take().await);
                told.await
            }
        };
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(anyhow::anyhow!("{why}")),
            Err(_) => Err(anyhow::anyhow!("the group commit was abandoned")),
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            guard.undo = Some(self.undo);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, with_tx};

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Store::connect(&url).await.unwrap();
        let Store::Sqlite(pool, _) = &store else {
            unreachable!()
        };
        sqlx::raw_sql(
            "CREATE TABLE t (x INTEGER PRIMARY KEY);
             CREATE TABLE child (x INTEGER NOT NULL REFERENCES t (x));",
        )
        .execute(pool)
        .await
        .unwrap();
        (dir, store)
    }

    fn turn(store: &Store) -> &WriteTurn {
        match store {
            Store::Sqlite(_, side) => &side.turn,
            Store::Postgres(_) => unreachable!(),
        }
    }

    async fn rows(store: &Store, table: &str) -> Vec<i64> {
        let Store::Sqlite(pool, _) = store else {
            unreachable!()
        };
        let sql = format!("SELECT x FROM {table} ORDER BY x");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await
            .unwrap()
    }

    /// What a member does: `insert` into `t` (and `child` when given), then
    /// commit, or leave without committing.
    #[derive(Clone, Copy)]
    enum Then {
        Commit,
        Leave,
    }

    async fn member(store: Store, sql: &'static str, then: Then) -> anyhow::Result<()> {
        let mut tx = store.begin().await?;
        with_tx!(&mut tx, conn => {
            sqlx::raw_sql(sql).execute(conn).await?;
        });
        match then {
            Then::Commit => tx.commit().await,
            Then::Leave => anyhow::bail!("left without committing"),
        }
    }

    /// Starts the members while the turn is held, waits until all of them
    /// wait for it, then lets them go in that order (the turn is fair).
    async fn queued(store: &Store, members: Vec<(&'static str, Then)>) -> Vec<anyhow::Result<()>> {
        let n = members.len();
        let held = turn(store).take().await;
        let mut tasks = Vec::new();
        for (sql, then) in members {
            tasks.push(tokio::spawn(member(store.clone(), sql, then)));
            // One at a time, so the queue keeps their order.
            let before = tasks.len();
            while turn(store).0.waiting.load(Ordering::SeqCst) < before {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(turn(store).0.waiting.load(Ordering::SeqCst), n);
        drop(held);
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_members_share_one_commit_and_all_land() {
        let (_dir, store) = store().await;
        let before = turn(&store).commits();
        let sql = [
            "INSERT INTO t VALUES (1)",
            "INSERT INTO t VALUES (2)",
            "INSERT INTO t VALUES (3)",
            "INSERT INTO t VALUES (4)",
            "INSERT INTO t VALUES (5)",
        ];
        let results = queued(&store, sql.iter().map(|s| (*s, Then::Commit)).collect()).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(rows(&store, "t").await, vec![1, 2, 3, 4, 5]);
        // Each saw the next one waiting and left the commit to it.
        assert_eq!(turn(&store).commits() - before, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_that_leaves_or_fails_is_undone_alone() {
        let (_dir, store) = store().await;
        let results = queued(
            &store,
            vec![
                // Alone in the batch: undone with the batch.
                ("INSERT INTO t VALUES (1)", Then::Leave),
                ("INSERT INTO t VALUES (2)", Then::Commit),
                // Behind a waiting member: undone to its savepoint.
                ("INSERT INTO t VALUES (3)", Then::Leave),
                // A statement fails half way: its first row goes too.
                (
                    "INSERT INTO t VALUES (4); INSERT INTO t VALUES (2)",
                    Then::Commit,
                ),
                ("INSERT INTO t VALUES (5)", Then::Commit),
            ],
        )
        .await;
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [false, true, false, false, true]);
        assert_eq!(rows(&store, "t").await, vec![2, 5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_is_cancelled_is_not_waited_for() {
        let (_dir, store) = store().await;
        let held = turn(&store).take().await;
        let s = store.clone();
        let waiter = tokio::spawn(async move { drop(s.begin().await) });
        while turn(&store).0.waiting.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(turn(&store).0.waiting.load(Ordering::SeqCst), 0);
        drop(held);
        // Alone, a member commits at once rather than leave it to others.
        let before = turn(&store).commits();
        member(store.clone(), "INSERT INTO t VALUES (1)", Then::Commit)
            .await
            .unwrap();
        assert_eq!(turn(&store).commits() - before, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_that_cannot_commit_tells_every_member() {
        let (_dir, store) = store().await;
        let results = queued(
            &store,
            vec![
                ("INSERT INTO t VALUES (1)", Then::Commit),
                // Checked at COMMIT: the whole batch is refused.
                (
                    "PRAGMA defer_foreign_keys = ON; INSERT INTO child VALUES (99)",
                    Then::Commit,
                ),
            ],
        )
        .await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert!(rows(&store, "t").await.is_empty());
        assert!(rows(&store, "child").await.is_empty());
        // And the next one starts afresh.
        member(store.clone(), "INSERT INTO t VALUES (7)", Then::Commit)
            .await
            .unwrap();
        assert_eq!(rows(&store, "t").await, vec![7]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_member_is_undone_and_a_plain_writer_commits_the_batch() {
        let (_dir, store) = store().await;
        let Store::Sqlite(pool, _) = &store else {
            unreachable!()
        };
        // A member commits while another waits, so its batch stays open.
        let held = turn(&store).take().await;
        let first = tokio::spawn(member(
            store.clone(),
            "INSERT INTO t VALUES (1)",
            Then::Commit,
        ));
        while turn(&store).0.waiting.load(Ordering::SeqCst) < 1 {
            tokio::task::yield_now().await;
        }
        let s = store.clone();
        let stuck = tokio::spawn(async move {
            let mut tx = s.begin().await.unwrap();
            with_tx!(&mut tx, conn => {
                sqlx::query("INSERT INTO t VALUES (2)").execute(conn).await.unwrap();
            });
            std::future::pending::<()>().await;
        });
        while turn(&store).0.waiting.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        drop(held);
        // The second holds the turn now, with the first's part uncommitted.
        while turn(&store).0.waiting.load(Ordering::SeqCst) > 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
        // A plain writer commits what the first left before it writes on
        // a connection of its own.
        {
            let _turn = turn(&store).take().await;
            sqlx::query("INSERT INTO t VALUES (3)")
                .execute(pool)
                .await
                .unwrap();
        }
        first.await.unwrap().unwrap();
        assert_eq!(rows(&store, "t").await, vec![1, 3]);
    }
}
