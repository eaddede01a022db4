import Foundation
import IMAPTestSupport
import Testing

/// What the command line says when it cannot start: exact messages a user can act on.
@Suite("command-line messages", .serialized)
struct CLIMessagesTests {
    static let listenerSchemes = "a listener is imap://host:port or imaps://host:port"

    @Test func listenErrorsNameOnlyListenerSchemes() throws {
        let dir = NSTemporaryDirectory() + "imapscope-cli-msg-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cases: [(String, String)] = [
            ("ftp://127.0.0.1:1143", "Error: 'ftp://127.0.0.1:1143': \(Self.listenerSchemes)\n"),
            (
                "imap+starttls://127.0.0.1:1143",
                "Error: 'imap+starttls://127.0.0.1:1143': \(Self.listenerSchemes) (imap+starttls:// is for --upstream only)\n"
            ),
            ("127.0.0.1:1143", "Error: '127.0.0.1:1143': \(Self.listenerSchemes)\n"),
        ]
        for (listen, expected) in cases {
            let proxy = try run(
                Binary.imapscope,
                ["proxy", "--listen", listen, "--upstream", "imap://127.0.0.1:1", "--ca-dir", dir + "/ca"])
            #expect(proxy.status == 1)
            #expect(proxy.stderr == expected, "\(listen)")
        }
        // The upstream's error still lists all three.
        let upstream = try run(
            Binary.imapscope, ["proxy", "--listen", "imap://127.0.0.1:0", "--upstream", "pop3://127.0.0.1:110"])
        #expect(
            upstream.stderr
                == "Error: 'pop3://127.0.0.1:110': expected imap://, imaps:// or imap+starttls://host:port\n")
    }

    /// A port another process listens on: proxy and replay say which address is in use.
    @Test func aBusyPortSaysWhichAddressIsInUse() throws {
        let holder = try PythonProcess(
            """
            import socket, sys
            s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
            print(s.getsockname()[1], flush=True)
            sys.stdin.readline()
            """)
        defer {
            holder.send("")
            _ = holder.finish()
        }
        let port = holder.firstLine
        let dir = NSTemporaryDirectory() + "imapscope-cli-busy-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let proxy = try run(
            Binary.imapscope,
            ["proxy", "--listen", "imap://127.0.0.1:\(port)", "--upstream", "imap://127.0.0.1:1", "--ca-dir", dir])
        #expect(proxy.status == 1)
        #expect(
            proxy.stderr
                == "Error: cannot listen on imap://127.0.0.1:\(port): 127.0.0.1:\(port) is already in use"
                + " (another process listens on it)\n")
        let fixture = DovecotProcess.repository.appendingPathComponent("Captures/idle-delivery.transcript").path
        let replay = try run(Binary.imapscope, ["replay", fixture, "--listen", "imap://127.0.0.1:\(port)"])
        #expect(replay.status == 1)
        #expect(
            replay.stderr
                == "Error: cannot listen on imap://127.0.0.1:\(port): 127.0.0.1:\(port) is already in use"
                + " (another process listens on it)\n")
    }

    @Test func aMissingFileSaysNoSuchFile() throws {
        let missing = "/nonexistent-\(UUID().uuidString).fixture"
        for args in [["read", missing], ["replay", missing, "--listen", "imap://127.0.0.1:0"]] {
            let r = try run(Binary.imapscope, args)
            #expect(r.status != 0)
            #expect(r.stderr == "Error: \(missing): no such file\n", "\(args)")
        }
    }

    /// `--help` wraps examples only between commands: every line of an Examples section is an
    /// indented command or an indented continuation of one, never a wrapped tail at column 0.
    @Test func helpExamplesWrapOnlyBetweenCommands() throws {
        for command in ["read", "sniff", "proxy", "replay", "diff", "ca"] {
            let help = try run(Binary.imapscope, [command, "--help"])
            var inExamples = false
            var examples = 0
            for line in help.stdout.split(separator: "\n", omittingEmptySubsequences: false) {
                if line == "Examples:" {
                    inExamples = true
                    continue
                }
                if inExamples && line.isEmpty { inExamples = false }
                guard inExamples else { continue }
                examples += 1
                #expect(line.hasPrefix("  "), "\(command): \(line)")
                #expect(line.count <= 80, "\(command): \(line)")
            }
            #expect(command == "sniff" || command == "ca" || examples > 0, "\(command)")
        }
    }
}
