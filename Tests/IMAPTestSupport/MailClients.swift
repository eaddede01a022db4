import Foundation

/// Real mail clients from Debian, run once each against an IMAP port (Dovecot, the proxy, a
/// replay): what each got, comparable between runs.
public enum MailClients {
    /// Python that drops the named trace headers a client adds (and their continuation lines).
    static let stripTrace = """
        def strip(msg, names):
            out, skipping, headers = [], False, True
            for l in msg.split(b'\\n'):
                if headers and l.strip(b'\\r') == b'':
                    headers = False
                elif headers and l[:1] in (b' ', b'\\t'):
                    if skipping: continue
                elif headers:
                    skipping = any(l.lower().startswith(n) for n in names)
                    if skipping: continue
                out.append(l)
            return b'\\n'.join(out)
        """

    /// fetchmail (all messages, kept) into an mbox through an MDA; returns the messages, sorted,
    /// without the Received header fetchmail adds. fetchmail upgrades with STARTTLS when it is
    /// offered (its default) and checks the certificate against `cafile` for localhost.
    public static func fetchmail(port: Int, cafile: String) throws -> [String] {
        let dir = NSTemporaryDirectory() + "imapscope-fetchmail-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = """
            set no bouncemail
            set no syslog
            poll 127.0.0.1 protocol IMAP port \(port)
              user "alice" there with password "password" is "root" here
              sslcertck sslcertfile "\(cafile)" sslcommonname localhost sslproto tls1.2+
              fetchall keep
              mda "/bin/sh -c 'cat >> \(dir)/mbox; echo ===END=== >> \(dir)/mbox'"
              folder INBOX

            """
        try rc.write(toFile: dir + "/fetchmailrc", atomically: true, encoding: .utf8)
        let out = try runPython(
            """
            import os, subprocess
            \(stripTrace)
            os.chmod('\(dir)/fetchmailrc', 0o600)
            r = subprocess.run(['fetchmail', '-f', '\(dir)/fetchmailrc', '--nodetach', '--nosyslog'],
                               capture_output=True, timeout=60, env=dict(os.environ, HOME='\(dir)', FETCHMAILHOME='\(dir)'))
            if r.returncode != 0: raise SystemExit('fetchmail exited %d: %s' % (r.returncode, r.stderr[-2000:]))
            msgs = open('\(dir)/mbox', 'rb').read().split(b'===END===\\n')
            print('\\n'.join(sorted(strip(m, [b'received:']).hex() for m in msgs if m)))
            """)
        return out.split(separator: "\n").map(String.init)
    }

    /// getmail6 over implicit TLS into a Maildir (delivered as nobody: getmail will not deliver
    /// as root); returns the messages, sorted, without the headers getmail adds.
    public static func getmail(port: Int, cafile: String) throws -> [String] {
        let dir = NSTemporaryDirectory() + "imapscope-getmail-\(UUID().uuidString)"
        for sub in ["cur", "new", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir + "/Maildir/" + sub, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = """
            [retriever]
            type = SimpleIMAPSSLRetriever
            server = localhost
            port = \(port)
            username = alice
            password = password
            mailboxes = ("INBOX",)
            ca_certs = \(cafile)

            [destination]
            type = Maildir
            path = \(dir)/Maildir/
            user = nobody

            [options]
            read_all = true
            delete = false

            """
        try rc.write(toFile: dir + "/getmailrc", atomically: true, encoding: .utf8)
        let out = try runPython(
            """
            import os, subprocess
            \(stripTrace)
            for d in ('', '/Maildir', '/Maildir/cur', '/Maildir/new', '/Maildir/tmp'): os.chmod('\(dir)' + d, 0o777)
            r = subprocess.run(['getmail', '--getmaildir', '\(dir)', '--rcfile', 'getmailrc', '--quiet'],
                               capture_output=True, timeout=60)
            if r.returncode != 0: raise SystemExit('getmail exited %d: %s %s' % (r.returncode, r.stdout, r.stderr))
            msgs = []
            for sub in ('cur', 'new'):
                for n in os.listdir('\(dir)/Maildir/' + sub):
                    msgs.append(open('\(dir)/Maildir/%s/%s' % (sub, n), 'rb').read())
            names = [b'return-path:', b'delivered-to:', b'received:']
            print('\\n'.join(sorted(strip(m, names).hex() for m in msgs)))
            """)
        return out.split(separator: "\n").map(String.init)
    }

    /// neomutt in a tmux session of its own: opens INBOX read-only (so the direct run leaves the
    /// flags as they were; imaps://, or imap:// with STARTTLS forced), shows the index, opens the
    /// first message; returns both screens as capture-pane prints them (trailing blanks trimmed).
    public static func neomutt(port: Int, cafile: String, implicitTLS: Bool) throws -> [String] {
        let dir = NSTemporaryDirectory() + "imapscope-neomutt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = """
            set folder = "\(implicitTLS ? "imaps" : "imap")://alice@localhost:\(port)/"
            set imap_pass = "password"
            set spoolfile = "+INBOX"
            set ssl_starttls = yes
            set ssl_force_tls = yes
            set ssl_ca_certificates_file = "\(cafile)"
            set certificate_file = "\(dir)/certificates"
            set header_cache = ""
            set message_cachedir = ""
            set sort = date
            set index_format = "%4C [%s]"
            set imap_check_subscribed = no
            set help = no
            set move = no
            set mark_old = no
            set pager_index_lines = 0
            set pager_stop = yes
            set timeout = 0

            """
        try rc.write(toFile: dir + "/muttrc", atomically: true, encoding: .utf8)
        let out = try runPython(
            """
            import subprocess, time
            sock = ['tmux', '-L', 'imapscope-\(UUID().uuidString)']
            def screen():
                r = subprocess.run(sock + ['capture-pane', '-t', 'nm', '-p'], capture_output=True, text=True)
                return '\\n'.join(l.rstrip() for l in r.stdout.splitlines()).strip('\\n')
            def wait(text, seconds=30):
                end = time.time() + seconds
                while time.time() < end:
                    s = screen()
                    if text in s: return s
                    time.sleep(0.2)
                alive = subprocess.run(sock + ['has-session', '-t', 'nm'], capture_output=True).returncode == 0
                raise SystemExit('neomutt never showed %r (running: %s); screen:\\n%s' % (text, alive, screen()))
            def settled(text):
                # Once the text shows, the screen may still be drawing (the pager's position in its
                # status line came out 46% once, under ThreadSanitizer): take it when two captures
                # half a second apart agree.
                s = wait(text)
                end = time.time() + 15
                while time.time() < end:
                    time.sleep(0.5)
                    again = screen()
                    if again == s and text in s: return s
                    s = again
                return s
            subprocess.run(sock + ['new-session', '-d', '-s', 'nm', '-x', '100', '-y', '30',
                                   'env -i HOME=\(dir) TERM=xterm LANG=C.UTF-8 PATH=/usr/bin:/bin neomutt -R -n -F \(dir)/muttrc'], check=True)
            try:
                # The index is drawn before neomutt reads keys again: let it settle.
                index = settled('Msgs:2')
                # The first message (the cursor starts on the newest), then open it.
                subprocess.run(sock + ['send-keys', '-t', 'nm', '='], check=True)
                subprocess.run(sock + ['send-keys', '-t', 'nm', 'Enter'], check=True)
                pager = settled('Subject: Seed message 1')
                subprocess.run(sock + ['send-keys', '-t', 'nm', 'q'], check=True)
                wait('Msgs:2')
                subprocess.run(sock + ['send-keys', '-t', 'nm', 'q'], check=True)
                end = time.time() + 10
                while time.time() < end and subprocess.run(sock + ['has-session', '-t', 'nm'], capture_output=True).returncode == 0:
                    time.sleep(0.1)
            finally:
                subprocess.run(sock + ['kill-server'], capture_output=True)
            print(index); print('=====')
            print(pager)
            """)
        return out.components(separatedBy: "\n=====\n")
    }

    /// offlineimap (offlineimap3) over implicit TLS, read-only, with up to `connections`
    /// connections at once (a folder each); returns each message as its folder and contents, sorted.
    public static func offlineimap(port: Int, cafile: String, connections: Int = 2) throws -> [String] {
        let dir = NSTemporaryDirectory() + "imapscope-offlineimap-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rc = """
            [general]
            accounts = a
            metadata = \(dir)/meta

            [Account a]
            localrepository = local
            remoterepository = remote

            [Repository local]
            type = Maildir
            localfolders = \(dir)/mail

            [Repository remote]
            type = IMAP
            remotehost = localhost
            remoteport = \(port)
            remoteuser = alice
            remotepass = password
            ssl = yes
            sslcacertfile = \(cafile)
            maxconnections = \(connections)
            readonly = True

            """
        try rc.write(toFile: dir + "/offlineimaprc", atomically: true, encoding: .utf8)
        let out = try runPython(
            """
            import os, subprocess
            r = subprocess.run(['offlineimap', '-c', '\(dir)/offlineimaprc', '-o', '-u', 'basic'],
                               capture_output=True, timeout=120, env=dict(os.environ, HOME='\(dir)'))
            if r.returncode != 0 or b'ERROR' in r.stdout + r.stderr:
                raise SystemExit('offlineimap exited %d: %s %s' % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
            msgs = []
            for root, dirs, files in os.walk('\(dir)/mail'):
                for n in files:
                    folder = os.path.relpath(root, '\(dir)/mail').rsplit('/', 1)[0]
                    msgs.append(folder + ' ' + open(os.path.join(root, n), 'rb').read().hex())
            print('\\n'.join(sorted(msgs)))
            """)
        return out.split(separator: "\n").map(String.init)
    }
}
