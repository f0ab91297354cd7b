//! A real OpenLDAP `slapd` for the LDAP plugins' tests: its own `slapd.conf` (mdb backend,
//! the memberof overlay, core/cosine/inetorgperson/nis schemas), a test CA and server
//! certificate made with `openssl`, loopback ports for `ldap://` and `ldaps://`, an `ldapi://`
//! socket, all in a temp folder, and a small directory loaded with `ldapadd`:
//!
//! ```text
//! dc=example,dc=org
//! ├─ ou=people      alice, bob, "weird,name" (staff); ou=contractors: carol; dup (twice)
//! ├─ ou=groups      staff, admins (groupOfUniqueNames); developers, ops (groupOfNames)
//! └─ ou=services    cn=rewho (the service account)
//! ```
//!
//! Anonymous clients may only bind: searching needs the service account. Like Active
//! Directory, this slapd accepts an unauthenticated bind (a DN with an empty password) as
//! anonymous (`allow bind_anon_dn`), which is what the empty-password guard is for.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The suffix of the test directory.
pub const SUFFIX: &str = "dc=example,dc=org";
/// Where people are.
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
/// Where groups are.
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
/// The service account.
pub const SERVICE_DN: &str = "cn=rewho,ou=services,dc=example,dc=org";
/// Its password.
pub const SERVICE_PW: &str = "svc-secret";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PW: &str = "admin-secret";

/// (login, password) of the people, for loops over them.
pub const PEOPLE_PASSWORDS: &[(&str, &str)] = &[
    ("alice", "alice-pw"),
    ("bob", "bob pw with spaces"),
    ("carol", "carol-pw"),
    ("weird,name", "weird-pw"),
];

fn require(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: these tests run a real OpenLDAP server. Run `bash .ci/install` \
         (it preseeds slapd/no_configuration and installs slapd ldap-utils)."
    );
    p
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running slapd, killed on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `ldap://` port.
    pub port: u16,
    /// `ldaps://` port.
    pub tls_port: u16,
}

impl Slapd {
    /// Starts a fresh slapd with the test directory loaded.
    pub fn start() -> Slapd {
        require("/usr/sbin/slapd");
        require("/usr/bin/ldapadd");
        require("/etc/ldap/schema/inetorgperson.schema");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("db")).unwrap();
        make_certificates(dir.path());
        let mut s = Slapd {
            dir,
            child: None,
            port: free_port(),
            tls_port: free_port(),
        };
        std::fs::write(s.path("slapd.conf"), s.config()).unwrap();
        s.spawn();
        s.ldif("ldapadd", &directory_ldif());
        s
    }

    /// A file in its folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://localhost:PORT` (the certificate names `localhost` and `127.0.0.1`).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://localhost:{}", self.tls_port)
    }

    /// `ldapi://` with the socket path percent-encoded.
    pub fn ldapi_url(&self) -> String {
        let path = self.path("ldapi").display().to_string().replace('/', "%2F");
        format!("ldapi://{path}")
    }

    /// The test CA's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.path("ca.pem")
    }

    fn config(&self) -> String {
        let d = self.dir.path().display();
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             moduleload memberof\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n\
             allow bind_anon_dn\n\
             TLSCACertificateFile {d}/ca.pem\n\
             TLSCertificateFile {d}/server.pem\n\
             TLSCertificateKeyFile {d}/server.key\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ADMIN_DN}\"\n\
             rootpw {ADMIN_PW}\n\
             directory {d}/db\n\
             overlay memberof\n\
             memberof-group-oc groupOfNames\n\
             memberof-member-ad member\n\
             memberof-memberof-ad memberOf\n\
             access to attrs=userPassword by self write by anonymous auth by * none\n\
             access to * by users read by anonymous auth\n"
        )
    }

    fn spawn(&mut self) {
        let listen = format!(
            "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/ {}",
            self.port,
            self.tls_port,
            self.ldapi_url()
        );
        let log = std::fs::File::create(self.path("slapd.log")).unwrap();
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.path("slapd.conf"))
            .arg("-h")
            .arg(&listen)
            .arg("-d")
            .arg("0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "slapd exited ({status}): {}",
                    std::fs::read_to_string(self.path("slapd.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < end, "slapd did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `ldapadd`/`ldapmodify` as the directory manager.
    pub fn ldif(&self, tool: &str, ldif: &str) {
        let file = self.path("change.ldif");
        std::fs::write(&file, ldif).unwrap();
        let out = Command::new(format!("/usr/bin/{tool}"))
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PW,
                "-f",
            ])
            .arg(&file)
            .output()
            .expect("run ldap tool");
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills slapd (SIGKILL): the directory is down.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGSTOP / SIGCONT: a hung server (connections are accepted by the kernel, never
    /// answered).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("running");
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok);
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Established client connections to the `ldap://` port right now.
    pub fn established_connections(&self) -> usize {
        established_connections(self.port)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Established TCP connections to `127.0.0.1:port`, counted from `/proc/net/tcp`
/// (state 01), as seen from the server side.
pub fn established_connections(port: u16) -> usize {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    text.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == local && f[3] == "01"
        })
        .count()
}

/// A CA and a server certificate for `localhost` / `127.0.0.1`, signed by it.
fn make_certificates(dir: &Path) {
    require("/usr/bin/openssl");
    let run = |args: &[&str]| {
        let out = Command::new("/usr/bin/openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=rewho test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    // slapd may drop privileges; the key must stay readable to it.
    let _ = Command::new("chmod")
        .arg("644")
        .arg(dir.join("server.key"))
        .status();
}

fn person(
    uid_rdn: &str,
    ou: &str,
    cn: &str,
    sn: &str,
    mails: &[&str],
    kind: &str,
    pw: &str,
) -> String {
    let mut s = format!(
        "dn: uid={uid_rdn},{ou}\nobjectClass: inetOrgPerson\ncn: {cn}\nsn: {sn}\n\
         employeeType: {kind}\nuserPassword: {pw}\n"
    );
    for m in mails {
        s.push_str(&format!("mail: {m}\n"));
    }
    s.push('\n');
    s
}

/// The test directory as LDIF (people before the groups naming them).
fn directory_ldif() -> String {
    let mut l = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=contractors,{PEOPLE}\nobjectClass: organizationalUnit\nou: contractors\n\n\
         dn: ou=others,{SUFFIX}\nobjectClass: organizationalUnit\nou: others\n\n\
         dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {SERVICE_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n\
         cn: rewho\nuserPassword: {SERVICE_PW}\n\n"
    );
    l += &person(
        "alice",
        PEOPLE,
        "Alice Liddell",
        "Liddell",
        &["alice@example.org", "a.liddell@example.org"],
        "staff",
        "alice-pw",
    );
    l += &person(
        "bob",
        PEOPLE,
        "Bob Builder",
        "Builder",
        &["bob@example.org"],
        "staff",
        "bob pw with spaces",
    );
    l += &person(
        "carol",
        &format!("ou=contractors,{PEOPLE}"),
        "Carol Danvers",
        "Danvers",
        &["carol@example.org"],
        "contractor",
        "carol-pw",
    );
    l += &person(
        "weird\\,name",
        PEOPLE,
        "Weird Name",
        "Name",
        &[],
        "staff",
        "weird-pw",
    );
    l += &person("dup", PEOPLE, "Dup One", "One", &[], "staff", "dup-pw");
    l += &person(
        "dup",
        &format!("ou=others,{SUFFIX}"),
        "Dup Two",
        "Two",
        &[],
        "staff",
        "dup-pw",
    );
    let alice = format!("uid=alice,{PEOPLE}");
    let bob = format!("uid=bob,{PEOPLE}");
    let carol = format!("uid=carol,ou=contractors,{PEOPLE}");
    l += &format!(
        "dn: cn=staff,{GROUPS}\nobjectClass: groupOfUniqueNames\ncn: staff\n\
         uniqueMember: {alice}\nuniqueMember: {bob}\n\n\
         dn: cn=admins,{GROUPS}\nobjectClass: groupOfUniqueNames\ncn: admins\n\
         uniqueMember: {alice}\n\n\
         dn: cn=developers,{GROUPS}\nobjectClass: groupOfNames\ncn: developers\n\
         member: {alice}\nmember: {carol}\n\n\
         dn: cn=ops,{GROUPS}\nobjectClass: groupOfNames\ncn: ops\nmember: {bob}\n\n"
    );
    l
}
