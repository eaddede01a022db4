import Foundation
import IMAPTestSupport

/// A real Cyrus IMAP (cyrus-imapd 3.6) on loopback for one test, from a temporary directory:
/// its own imapd.conf and cyrus.conf, spool and sockets, `master` in the foreground. Any
/// password is accepted (`sasl_pwcheck_method: alwaystrue`), INBOX is created at first login,
/// and `seed(count)` appends the same messages `DovecotProcess(seed:)` puts into Dovecot
/// (scripts/dovecot_fixture.py `seed_message`, same INTERNALDATE), so both servers hold the
/// same mailbox.
final class CyrusProcess: @unchecked Sendable {
    let port: Int
    let directory: String
    private let process: Process

    init() throws {
        let dir = try temporaryDirectory("cyrus")
        for sub in ["config", "spool", "socket", "run"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        let port = Int(
            try runPython("import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
                .trimmingCharacters(in: .whitespacesAndNewlines))!
        try """
        configdirectory: \(dir)/config
        partition-default: \(dir)/spool
        sasl_pwcheck_method: alwaystrue
        sasl_mech_list: PLAIN LOGIN
        allowplaintext: yes
        autocreate_quota: 0
        unixhierarchysep: yes
        lmtpsocket: \(dir)/socket/lmtp
        idlesocket: \(dir)/socket/idle
        notifysocket: \(dir)/socket/notify
        mboxname_lockpath: \(dir)/run/lock
        proc_path: \(dir)/run/proc
        syslog_prefix: imapscope-cyrus

        """.write(toFile: dir + "/imapd.conf", atomically: true, encoding: .utf8)
        try """
        START {
          recover cmd="ctl_cyrusdb -r -C \(dir)/imapd.conf"
        }
        SERVICES {
          imap cmd="imapd -C \(dir)/imapd.conf" listen="127.0.0.1:\(port)" prefork=0
        }
        EVENTS {
        }
        DAEMON {
        }

        """.write(toFile: dir + "/cyrus.conf", atomically: true, encoding: .utf8)
        // Cyrus runs as the cyrus user and needs its directories.
        _ = try run("/bin/chown", ["-R", "cyrus:mail", dir])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/lib/cyrus/bin/master")
        p.arguments = ["-C", dir + "/imapd.conf", "-M", dir + "/cyrus.conf", "-p", dir + "/run/master.pid", "-D"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        process = p
        self.port = port
        directory = dir
        // Wait (up to 10 s) for the listener.
        _ = try runPython(
            """
            import socket, time
            for _ in range(200):
                try:
                    socket.create_connection(('127.0.0.1', \(port)), timeout=1).close(); break
                except OSError:
                    time.sleep(0.05)
            else:
                raise SystemExit('cyrus did not start on port \(port)')
            """)
    }

    /// Appends seed messages 1…count to alice's INBOX (created by this first login).
    func seed(_ count: Int) throws {
        _ = try runPython(
            """
            import imaplib, sys, time
            sys.path.insert(0, '\(DovecotProcess.repository.appendingPathComponent("scripts").path)')
            import dovecot_fixture as f
            m = imaplib.IMAP4('127.0.0.1', \(port))
            m.login('alice', 'password')
            for i in range(1, \(count) + 1):
                typ, _ = m.append('INBOX', None, imaplib.Time2Internaldate(f.SEED_EPOCH + 60 * (i - 1)), f.seed_message(i))
                assert typ == 'OK'
            m.logout()
            """)
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
