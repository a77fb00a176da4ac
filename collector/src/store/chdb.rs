//! The embedded engine: libchdb (ClickHouse as a shared library) loaded at run time, so the
//! binary needs it only when no ClickHouse server is configured. A chDB connection runs one
//! statement at a time, so each connection lives on a dedicated thread that executes jobs in
//! order; async callers wait on a oneshot channel and never block the runtime.
//!
//! chDB allows one storage path per process. We enforce that here with a clear error rather
//! than let the library fail obscurely (tests get one engine per process: cargo-nextest).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::{
    analyst_database, analyst_settings, checked_table, checked_token, Engine, InsertOptions,
    Params, Store, StoreError, ANALYST_READONLY, INSPECT_READONLY, SESSION_SETTINGS,
};
use crate::config::{EngineMemory, SqlLimits};

type ConnHandle = *mut c_void; // chdb_connection
type ResultHandle = *mut c_void; // chdb_result *
type InsertHandle = *mut c_void; // chdb_insert_stream

/// The few C functions of chdb.h that Candor uses, resolved once per process.
struct Lib {
    _lib: libloading::Library,
    /// The library file as the kernel names its mappings (symbolic links resolved).
    file: PathBuf,
    set_signal_handlers_enabled: unsafe extern "C" fn(c_int),
    connect: unsafe extern "C" fn(c_int, *mut *mut c_char) -> *mut ConnHandle,
    close_conn: unsafe extern "C" fn(*mut ConnHandle),
    query_with_params_n: unsafe extern "C" fn(
        ConnHandle,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *const *const c_char,
        *const usize,
        *const *const c_char,
        *const usize,
        usize,
    ) -> ResultHandle,
    result_buffer: unsafe extern "C" fn(ResultHandle) -> *mut c_char,
    result_length: unsafe extern "C" fn(ResultHandle) -> usize,
    result_error: unsafe extern "C" fn(ResultHandle) -> *const c_char,
    destroy_query_result: unsafe extern "C" fn(ResultHandle),
    stream_insert_n: unsafe extern "C" fn(
        ConnHandle,
        *const c_char,
        usize,
        *const c_char,
        usize,
    ) -> InsertHandle,
    stream_append: unsafe extern "C" fn(InsertHandle, *const c_void, usize) -> c_int,
    stream_done: unsafe extern "C" fn(InsertHandle) -> ResultHandle,
    stream_insert_error: unsafe extern "C" fn(InsertHandle) -> *const c_char,
    destroy_insert_stream: unsafe extern "C" fn(InsertHandle),
}

// The function pointers are plain C entry points; chDB documents them as thread-safe given
// one statement per connection at a time, which the worker threads guarantee.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
/// The storage path this process opened, if any (chDB allows one per process).
static OPEN_PATH: Mutex<Option<PathBuf>> = Mutex::new(None);

fn load(path: &Path) -> Result<&'static Lib, StoreError> {
    if !path.is_file() {
        return Err(StoreError::LibraryMissing {
            path: path.display().to_string(),
        });
    }
    let loaded = LIB.get_or_init(|| unsafe { Lib::load(path) }.map_err(|e| e.to_string()));
    loaded.as_ref().map_err(|e| StoreError::Library(e.clone()))
}

impl Lib {
    unsafe fn load(path: &Path) -> Result<Lib, libloading::Error> {
        let lib = libloading::Library::new(path)?;
        macro_rules! sym {
            ($name:literal) => {
                *lib.get(concat!($name, "\0").as_bytes())?
            };
        }
        Ok(Lib {
            set_signal_handlers_enabled: sym!("chdb_set_signal_handlers_enabled"),
            connect: sym!("chdb_connect"),
            close_conn: sym!("chdb_close_conn"),
            query_with_params_n: sym!("chdb_query_with_params_n"),
            result_buffer: sym!("chdb_result_buffer"),
            result_length: sym!("chdb_result_length"),
            result_error: sym!("chdb_result_error"),
            destroy_query_result: sym!("chdb_destroy_query_result"),
            stream_insert_n: sym!("chdb_stream_insert_n"),
            stream_append: sym!("chdb_stream_append"),
            stream_done: sym!("chdb_stream_done"),
            stream_insert_error: sym!("chdb_stream_insert_error"),
            destroy_insert_stream: sym!("chdb_destroy_insert_stream"),
            file: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            _lib: lib,
        })
    }
}

/// The engine's code resident in this process, before and after `release_start_up_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidentCode {
    pub before_bytes: u64,
    pub after_bytes: u64,
}

/// Hands the pages of the engine's code that only its start-up touched back to the kernel.
///
/// libchdb is a large library (566 MB in chDB 26.7), and opening it pages in about 200 MB of
/// its code and read-only data (its static initialisers register every function, format and
/// table engine), most of which the collector never runs again; those pages would count in
/// the process's resident size for its whole life. `MADV_PAGEOUT` on the library's read-only
/// mappings reclaims them at once; the code the engine does run afterwards faults back in from
/// the page cache or the file as it is needed (about 110 MB under ingest and reports,
/// `docs/benchmarks.md`). The pages are clean copies of the file, so nothing is lost: the
/// kernel may drop them under memory pressure at any time anyway, this only does it before the
/// pressure comes. Pages another process maps too (a second process loading the same library
/// file) stay: the kernel pages out only what this process alone holds.
///
/// Returns `None` when no engine is loaded (a ClickHouse server store) or on systems without
/// `/proc` or `MADV_PAGEOUT` (Linux before 5.4), where it changes nothing.
pub fn release_start_up_code() -> Option<ResidentCode> {
    let lib = LIB.get()?.as_ref().ok()?;
    let (ranges, before_bytes) = read_only_mappings(&lib.file)?;
    if ranges.is_empty() {
        return None;
    }
    for (start, len) in ranges {
        // SAFETY: the range is one of this process's own mappings of the library, read-only
        // and file-backed; paging it out changes no contents, only where they are kept.
        unsafe { pageout(start, len) }?;
    }
    let (_, after_bytes) = read_only_mappings(&lib.file)?;
    Some(ResidentCode {
        before_bytes,
        after_bytes,
    })
}

#[cfg(target_os = "linux")]
unsafe fn pageout(start: usize, len: usize) -> Option<()> {
    (libc::madvise(start as *mut c_void, len, libc::MADV_PAGEOUT) == 0).then_some(())
}

#[cfg(not(target_os = "linux"))]
unsafe fn pageout(_start: usize, _len: usize) -> Option<()> {
    None
}

/// This process's read-only mappings of `file` (start, length) and their resident bytes, from
/// `/proc/self/smaps`.
fn read_only_mappings(file: &Path) -> Option<(Vec<(usize, usize)>, u64)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let file = file.to_str()?;
    let mut ranges = Vec::new();
    let mut resident = 0u64;
    let mut in_library = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(first), Some(second)) = (fields.next(), fields.next()) else {
            continue;
        };
        if first == "Rss:" {
            if in_library {
                resident += second.parse::<u64>().unwrap_or(0) * 1024;
            }
            continue;
        }
        // A mapping's header: `start-end perms offset dev inode path`.
        let Some((start, end)) = first.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let path = line.splitn(6, ' ').nth(5).map(str::trim);
        in_library = path == Some(file) && !second.contains('w');
        if in_library {
            ranges.push((start, end - start));
        }
    }
    Some((ranges, resident))
}

/// A chDB connection. Only ever used from its worker thread.
struct Connection {
    lib: &'static Lib,
    handle: *mut ConnHandle,
}

impl Connection {
    fn open(lib: &'static Lib, args: &[String]) -> Result<Connection, StoreError> {
        let cstrings: Vec<CString> = std::iter::once("candor".to_string())
            .chain(args.iter().cloned())
            .map(|a| CString::new(a).map_err(|e| StoreError::Library(e.to_string())))
            .collect::<Result<_, _>>()?;
        let mut argv: Vec<*mut c_char> =
            cstrings.iter().map(|c| c.as_ptr() as *mut c_char).collect();
        // Candor (actix, tokio) owns SIGTERM/SIGINT for graceful shutdown; keep chDB out of it.
        let handle = unsafe {
            (lib.set_signal_handlers_enabled)(0);
            (lib.connect)(argv.len() as c_int, argv.as_mut_ptr())
        };
        if handle.is_null() || unsafe { (*handle).is_null() } {
            return Err(StoreError::Library(format!(
                "chdb_connect failed (arguments: {})",
                args.join(" ")
            )));
        }
        Ok(Connection { lib, handle })
    }

    fn query(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        let names: Vec<&str> = params.iter().map(|(n, _)| n).collect();
        let values: Vec<&str> = params.iter().map(|(_, v)| v).collect();
        let name_ptrs: Vec<*const c_char> =
            names.iter().map(|n| n.as_ptr() as *const c_char).collect();
        let name_lens: Vec<usize> = names.iter().map(|n| n.len()).collect();
        let value_ptrs: Vec<*const c_char> =
            values.iter().map(|v| v.as_ptr() as *const c_char).collect();
        let value_lens: Vec<usize> = values.iter().map(|v| v.len()).collect();
        unsafe {
            let result = (self.lib.query_with_params_n)(
                *self.handle,
                sql.as_ptr() as *const c_char,
                sql.len(),
                format.as_ptr() as *const c_char,
                format.len(),
                name_ptrs.as_ptr(),
                name_lens.as_ptr(),
                value_ptrs.as_ptr(),
                value_lens.as_ptr(),
                names.len(),
            );
            self.take_result(result)
        }
    }

    fn insert(&self, statement: &str, format: &str, data: &[u8]) -> Result<(), StoreError> {
        unsafe {
            let stream = (self.lib.stream_insert_n)(
                *self.handle,
                statement.as_ptr() as *const c_char,
                statement.len(),
                format.as_ptr() as *const c_char,
                format.len(),
            );
            if stream.is_null() {
                return Err(StoreError::Library(
                    "chdb_stream_insert returned null".into(),
                ));
            }
            let outcome = (|| {
                if let Some(err) = c_message((self.lib.stream_insert_error)(stream)) {
                    return Err(StoreError::from_engine_message(&err));
                }
                if (self.lib.stream_append)(stream, data.as_ptr() as *const c_void, data.len()) != 0
                {
                    let err = c_message((self.lib.stream_insert_error)(stream))
                        .unwrap_or_else(|| "chdb_stream_append failed".into());
                    return Err(StoreError::from_engine_message(&err));
                }
                let done = (self.lib.stream_done)(stream);
                self.take_result(done).map(|_| ())
            })();
            (self.lib.destroy_insert_stream)(stream);
            outcome
        }
    }

    /// Copies a result out and frees it.
    unsafe fn take_result(&self, result: ResultHandle) -> Result<Bytes, StoreError> {
        if result.is_null() {
            return Err(StoreError::Library("chDB returned no result".into()));
        }
        let outcome = match c_message((self.lib.result_error)(result)) {
            Some(err) => Err(StoreError::from_engine_message(&err)),
            None => {
                let len = (self.lib.result_length)(result);
                let buf = (self.lib.result_buffer)(result);
                if len == 0 || buf.is_null() {
                    Ok(Bytes::new())
                } else {
                    Ok(Bytes::copy_from_slice(std::slice::from_raw_parts(
                        buf as *const u8,
                        len,
                    )))
                }
            }
        };
        (self.lib.destroy_query_result)(result);
        outcome
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        unsafe { (self.lib.close_conn)(self.handle) };
    }
}

unsafe fn c_message(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    let s = CStr::from_ptr(ptr).to_string_lossy().into_owned();
    (!s.is_empty()).then_some(s)
}

enum Job {
    Query {
        sql: String,
        params: Params,
        format: String,
        reply: oneshot::Sender<Result<Bytes, StoreError>>,
    },
    Insert {
        statement: String,
        format: String,
        data: Bytes,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// One chDB connection on its own thread, fed through a channel: statements run one at a
/// time, in order, and async callers never block. Public so the test-only ClickHouse HTTP
/// front under `tests/` can execute on the same engine code.
pub struct ChdbConnection {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ChdbConnection {
    /// Connects to the storage at `path` with extra `--setting=value` arguments (query-level
    /// settings apply to this connection only).
    pub fn open(
        libchdb: &Path,
        path: &Path,
        name: &str,
        settings: &[(String, String)],
    ) -> Result<ChdbConnection, StoreError> {
        ChdbConnection::open_with_init(libchdb, path, name, settings, Vec::new())
    }

    /// Like `open`, running `init` statements (e.g. `USE db`) after every (re)connect.
    pub fn open_with_init(
        libchdb: &Path,
        path: &Path,
        name: &str,
        settings: &[(String, String)],
        init: Vec<(String, Params)>,
    ) -> Result<ChdbConnection, StoreError> {
        let lib = load(libchdb)?;
        let path = claim_path(path)?;
        let mut args = vec![format!("--path={}", path.display())];
        args.extend(settings.iter().map(|(k, v)| format!("--{k}={v}")));
        ChdbConnection::spawn(lib, name, args, init)
    }

    fn spawn(
        lib: &'static Lib,
        name: &str,
        args: Vec<String>,
        init: Vec<(String, Params)>,
    ) -> Result<ChdbConnection, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                // Opens the connection and runs its init statements (e.g. `USE db`).
                let connect = || -> Result<Connection, StoreError> {
                    let c = Connection::open(lib, &args)?;
                    for (sql, params) in &init {
                        c.query(sql, params, "TabSeparated")?;
                    }
                    Ok(c)
                };
                let mut conn = match connect() {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        Some(c)
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                for job in rx {
                    // chDB can leave part of a failed statement's output in the connection
                    // (seen after a result-limit error mid-stream), which would then prefix
                    // the next result. After any error the connection is replaced.
                    let live = match conn.take() {
                        Some(c) => Ok(c),
                        None => connect(),
                    };
                    let failed = match (job, live) {
                        (
                            Job::Query {
                                sql,
                                params,
                                format,
                                reply,
                            },
                            Ok(c),
                        ) => {
                            let r = c.query(&sql, &params, &format);
                            let failed = r.is_err();
                            let _ = reply.send(r);
                            conn = Some(c);
                            failed
                        }
                        (
                            Job::Insert {
                                statement,
                                format,
                                data,
                                reply,
                            },
                            Ok(c),
                        ) => {
                            let r = c.insert(&statement, &format, &data);
                            let failed = r.is_err();
                            let _ = reply.send(r);
                            conn = Some(c);
                            failed
                        }
                        (Job::Query { reply, .. }, Err(e)) => {
                            let _ = reply.send(Err(e));
                            false
                        }
                        (Job::Insert { reply, .. }, Err(e)) => {
                            let _ = reply.send(Err(e));
                            false
                        }
                    };
                    if failed {
                        drop(conn.take());
                    }
                }
                drop(conn);
            })
            .map_err(|e| StoreError::Library(e.to_string()))?;
        ready_rx
            .recv()
            .map_err(|_| StoreError::Library("chDB worker thread died".into()))??;
        Ok(ChdbConnection {
            jobs: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => tx
                .send(job)
                .map_err(|_| StoreError::Unavailable("embedded store is closed".into())),
            None => Err(StoreError::Unavailable("embedded store is closed".into())),
        }
    }

    /// Runs one statement, returning its output in `format`.
    pub async fn query(
        &self,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Query {
            sql: sql.to_string(),
            params: params.clone(),
            format: format.to_string(),
            reply,
        })?;
        rx.await
            .map_err(|_| StoreError::Unavailable("embedded store worker stopped".into()))?
    }

    /// Streams `data` in `format` into `statement` (an `INSERT INTO t [(cols)] [SETTINGS ..]`
    /// without a FORMAT clause).
    pub async fn insert(
        &self,
        statement: String,
        format: &str,
        data: Bytes,
    ) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Insert {
            statement,
            format: format.to_string(),
            data,
            reply,
        })?;
        rx.await
            .map_err(|_| StoreError::Unavailable("embedded store worker stopped".into()))?
    }

    /// Finishes queued jobs, closes the connection and joins the thread.
    fn close(&self) {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// Embedded ClickHouse. One read-write connection for Candor's own statements and one
/// read-only connection (engine `readonly=1`, row and time limits) for analysts' SQL, each on
/// its own thread so a slow analyst query never holds up ingestion.
pub struct ChdbStore {
    main: ChdbConnection,
    /// `Store::report`: reports' statements, beside the main connection's inserts.
    reports: ChdbConnection,
    readonly: ChdbConnection,
    /// `Store::inspect`: parses and explains analysts' statements, runs none of them.
    inspector: ChdbConnection,
}

impl Drop for ChdbConnection {
    fn drop(&mut self) {
        self.close();
    }
}

/// Records the storage path this process uses; a second, different path is refused.
fn claim_path(path: &Path) -> Result<PathBuf, StoreError> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut open = OPEN_PATH.lock().unwrap_or_else(|e| e.into_inner());
    match open.as_ref() {
        Some(p) if p != &path => Err(StoreError::Library(format!(
            "chDB allows one storage path per process: {} is open, cannot open {}",
            p.display(),
            path.display()
        ))),
        _ => {
            *open = Some(path.clone());
            Ok(path)
        }
    }
}

impl ChdbStore {
    /// Opens the store with the default memory bound (`store.memory_mb`).
    pub fn open(libchdb: &Path, path: &Path, limits: SqlLimits) -> Result<ChdbStore, StoreError> {
        ChdbStore::open_with(libchdb, path, limits, EngineMemory::default())
    }

    /// Opens the store with the engine's memory bounded by `memory`. The bound is the engine's
    /// (one per process): every connection states the same values.
    pub fn open_with(
        libchdb: &Path,
        path: &Path,
        limits: SqlLimits,
        memory: EngineMemory,
    ) -> Result<ChdbStore, StoreError> {
        let engine = memory.server_settings();
        let mut session: Vec<(String, String)> = SESSION_SETTINGS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(engine.iter().cloned())
            .chain(memory.query_settings())
            .collect();
        // `BACKUP`/`RESTORE` to files (`candor backup`, admin only; analysts' connections run
        // nothing but checked SELECTs).
        session.push(("backups.allowed_path".into(), "/".into()));
        // The analyst database must exist before the read-only connection can `USE` it; its
        // views are (re)made by the migrations.
        let analyst = analyst_database("default");
        let main = ChdbConnection::open_with_init(
            libchdb,
            path,
            "chdb-main",
            &session,
            vec![(
                "CREATE DATABASE IF NOT EXISTS {db:Identifier}".to_string(),
                Params::new().with("db", analyst.as_str()),
            )],
        )?;
        // Analysts run in their own database, so an unqualified name resolves to one of its
        // views or to nothing; never to an internal table or, through the embedded engine's
        // default database, to a file. A failed `USE` fails the connection: never a fallback.
        let analyst_connection = |name: &str, readonly: u8| {
            ChdbConnection::open_with_init(
                libchdb,
                path,
                name,
                &[analyst_settings(limits, readonly), engine.clone()].concat(),
                vec![(
                    "USE {db:Identifier}".to_string(),
                    Params::new().with("db", analyst.as_str()),
                )],
            )
        };
        let reports =
            ChdbConnection::open_with_init(libchdb, path, "chdb-reports", &session, vec![])?;
        let readonly = analyst_connection("chdb-readonly", ANALYST_READONLY)?;
        let inspector = analyst_connection("chdb-inspect", INSPECT_READONLY)?;
        Ok(ChdbStore {
            main,
            reports,
            readonly,
            inspector,
        })
    }
}

#[async_trait]
impl Store for ChdbStore {
    fn engine(&self) -> Engine {
        Engine::Embedded
    }

    async fn execute(&self, sql: &str, params: &Params) -> Result<(), StoreError> {
        self.main
            .query(sql, params, "TabSeparated")
            .await
            .map(|_| ())
    }

    async fn query(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        self.main.query(sql, params, format).await
    }

    async fn report(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        self.reports.query(sql, params, format).await
    }

    async fn insert(
        &self,
        table: &str,
        format: &str,
        data: Bytes,
        options: &InsertOptions,
    ) -> Result<(), StoreError> {
        let mut statement = format!("INSERT INTO {}", checked_table(table)?);
        if let Some(token) = &options.dedup_token {
            // The token also guards the rows a materialized view derives from the insert
            // (`sessions` from `events`), so a retried batch adds no session twice.
            statement.push_str(&format!(
                " SETTINGS insert_deduplication_token = '{}', deduplicate_blocks_in_dependent_materialized_views = 1",
                checked_token(token)?
            ));
        }
        self.main.insert(statement, format, data).await
    }

    async fn query_readonly(
        &self,
        sql: &str,
        params: &Params,
        format: &str,
    ) -> Result<Bytes, StoreError> {
        self.readonly.query(sql, params, format).await
    }

    async fn inspect(&self, sql: &str, params: &Params, format: &str) -> Result<Bytes, StoreError> {
        self.inspector.query(sql, params, format).await
    }
}
