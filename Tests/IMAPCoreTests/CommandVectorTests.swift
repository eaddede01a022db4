import IMAPCore
import Testing

/// One client line → its typed decoding: name, UID flag and the details JSON.
struct CommandVector: CustomTestStringConvertible, Sendable {
    var line: String
    var name: String
    var uid = false
    var details: String
    var testDescription: String { line }
}

@Suite("Command grammar")
struct CommandVectorTests {
    static let vectors: [CommandVector] = [
        // RFC 9051 §6.1 any state
        .init(line: "a1 CAPABILITY", name: "CAPABILITY", details: "{}"),
        .init(line: "a2 NOOP", name: "NOOP", details: "{}"),
        .init(line: "a3 LOGOUT", name: "LOGOUT", details: "{}"),
        // §6.2 not authenticated
        .init(line: "a4 STARTTLS", name: "STARTTLS", details: "{}"),
        .init(line: "a5 LOGIN alice secret", name: "LOGIN", details: #"{"user":"alice"}"#),
        .init(line: #"a6 login "al ice" "p\"w""#, name: "LOGIN", details: #"{"user":"al ice"}"#),
        .init(line: "a7 AUTHENTICATE PLAIN", name: "AUTHENTICATE", details: #"{"mechanism":"PLAIN"}"#),
        .init(
            line: "a8 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", name: "AUTHENTICATE",
            details: #"{"mechanism":"PLAIN","initial_response":true,"user":"alice"}"#),
        .init(
            line: "a9 AUTHENTICATE EXTERNAL =", name: "AUTHENTICATE",
            details: #"{"mechanism":"EXTERNAL","initial_response":true}"#),
        // §6.3 authenticated
        .init(line: "b1 SELECT INBOX", name: "SELECT", details: #"{"mailbox":"INBOX"}"#),
        .init(
            line: "b2 select inbox (CONDSTORE)", name: "SELECT",
            details: #"{"mailbox":"INBOX","parameters":["CONDSTORE"]}"#),
        .init(
            line: "b3 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", name: "SELECT",
            details: #"{"mailbox":"INBOX","parameters":["QRESYNC","(67890007 20050715194045000 41,43:211,214:541)"]}"#),
        .init(line: #"b4 EXAMINE "Sent Items""#, name: "EXAMINE", details: #"{"mailbox":"Sent Items"}"#),
        .init(line: "b5 CREATE Archive/2024", name: "CREATE", details: #"{"mailbox":"Archive/2024"}"#),
        .init(
            line: #"b6 CREATE MyJunk (USE (\Junk))"#, name: "CREATE",
            details: #"{"mailbox":"MyJunk","parameters":["USE","(\\Junk)"]}"#),
        .init(line: "b7 DELETE Old", name: "DELETE", details: #"{"mailbox":"Old"}"#),
        .init(line: "b8 RENAME Old New", name: "RENAME", details: #"{"mailbox":"Old","new_name":"New"}"#),
        .init(line: "b9 SUBSCRIBE News", name: "SUBSCRIBE", details: #"{"mailbox":"News"}"#),
        .init(line: "c1 UNSUBSCRIBE News", name: "UNSUBSCRIBE", details: #"{"mailbox":"News"}"#),
        .init(line: #"c2 LIST "" *"#, name: "LIST", details: #"{"reference":"","pattern":"*"}"#),
        .init(
            line: #"c3 LIST (SUBSCRIBED RECURSIVEMATCH) "" % RETURN (CHILDREN STATUS (MESSAGES UNSEEN))"#, name: "LIST",
            details:
                #"{"selection_options":["SUBSCRIBED","RECURSIVEMATCH"],"reference":"","pattern":"%","return_options":["CHILDREN","STATUS","(MESSAGES UNSEEN)"]}"#
        ),
        .init(
            line: #"c4 LIST "" ("INBOX" "Drafts") RETURN (SPECIAL-USE)"#, name: "LIST",
            details: #"{"reference":"","patterns":["INBOX","Drafts"],"return_options":["SPECIAL-USE"]}"#),
        .init(
            line: ##"c5 LSUB "#news." "comp.mail.*""##, name: "LSUB",
            details: ##"{"reference":"#news.","pattern":"comp.mail.*"}"##),
        .init(line: "c6 NAMESPACE", name: "NAMESPACE", details: "{}"),
        .init(
            line: "c7 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)", name: "STATUS",
            details: #"{"mailbox":"INBOX","items":["MESSAGES","UIDNEXT","UIDVALIDITY","UNSEEN","HIGHESTMODSEQ"]}"#),
        .init(line: "c8 IDLE", name: "IDLE", details: "{}"),
        .init(
            line: "c9 ENABLE QRESYNC CONDSTORE UTF8=ACCEPT", name: "ENABLE",
            details: #"{"capabilities":["QRESYNC","CONDSTORE","UTF8=ACCEPT"]}"#),
        .init(
            line: #"d1 ID ("name" "sodr" "version" "19.34")"#, name: "ID",
            details: #"{"parameters":{"name":"sodr","version":"19.34"}}"#),
        .init(line: "d2 ID NIL", name: "ID", details: "{}"),
        .init(line: "d3 COMPRESS DEFLATE", name: "COMPRESS", details: #"{"algorithm":"DEFLATE"}"#),
        .init(line: #"d4 GETQUOTA """#, name: "GETQUOTA", details: #"{"quota_root":""}"#),
        .init(line: "d5 GETQUOTAROOT INBOX", name: "GETQUOTAROOT", details: #"{"mailbox":"INBOX"}"#),
        .init(
            line: #"d6 SETQUOTA "" (STORAGE 512)"#, name: "SETQUOTA",
            details: #"{"quota_root":"","resources":["STORAGE","512"]}"#),
        .init(
            line: "d7 GETMETADATA (MAXSIZE 1024) INBOX /private/comment", name: "GETMETADATA",
            details: #"{"options":["MAXSIZE","1024"],"mailbox":"INBOX","entries":["/private/comment"]}"#),
        .init(
            line: #"d8 SETMETADATA INBOX (/private/comment "My comment")"#, name: "SETMETADATA",
            details: #"{"mailbox":"INBOX","entries":["/private/comment"]}"#),
        // §6.4 selected
        .init(line: "e1 CHECK", name: "CHECK", details: "{}"),
        .init(line: "e2 CLOSE", name: "CLOSE", details: "{}"),
        .init(line: "e3 UNSELECT", name: "UNSELECT", details: "{}"),
        .init(line: "e4 EXPUNGE", name: "EXPUNGE", details: "{}"),
        .init(line: "e5 UID EXPUNGE 3000:3002", name: "EXPUNGE", uid: true, details: #"{"sequence_set":"3000:3002"}"#),
        .init(
            line: #"e6 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith""#, name: "SEARCH",
            details: #"{"criteria":"FLAGGED SINCE 1-Feb-1994 NOT FROM Smith"}"#),
        .init(
            line: "e7 UID SEARCH RETURN (MIN COUNT) CHARSET UTF-8 UNSEEN", name: "SEARCH", uid: true,
            details: #"{"return_options":["MIN","COUNT"],"charset":"UTF-8","criteria":"UNSEEN"}"#),
        .init(
            line: "e8 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)]<0.2048>)", name: "FETCH",
            details: #"{"sequence_set":"2:4","items":["FLAGS","BODY[HEADER.FIELDS (DATE FROM)]<0.2048>"]}"#),
        .init(
            line: "e9 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 12345 VANISHED)", name: "FETCH", uid: true,
            details: #"{"sequence_set":"1:*","items":["UID","FLAGS"],"modifiers":["CHANGEDSINCE","12345","VANISHED"]}"#),
        .init(line: "f1 FETCH 1 ALL", name: "FETCH", details: #"{"sequence_set":"1","items":["ALL"]}"#),
        .init(
            line: "f2 UID FETCH 7 (BINARY.PEEK[1.2] BINARY.SIZE[1] X-GM-MSGID X-GM-LABELS EMAILID THREADID)",
            name: "FETCH", uid: true,
            details:
                #"{"sequence_set":"7","items":["BINARY.PEEK[1.2]","BINARY.SIZE[1]","X-GM-MSGID","X-GM-LABELS","EMAILID","THREADID"]}"#
        ),
        .init(
            line: #"f3 STORE 2:4 +FLAGS (\Deleted)"#, name: "STORE",
            details: #"{"sequence_set":"2:4","operation":"+FLAGS","flags":["\\Deleted"]}"#),
        .init(
            line: #"f4 UID STORE 5 (UNCHANGEDSINCE 320162338) -FLAGS.SILENT \Seen $Junk"#, name: "STORE", uid: true,
            details:
                #"{"sequence_set":"5","modifiers":["UNCHANGEDSINCE","320162338"],"operation":"-FLAGS.SILENT","flags":["\\Seen","$Junk"]}"#
        ),
        .init(
            line: #"f5 UID STORE 9 +X-GM-LABELS (\Important Work)"#, name: "STORE", uid: true,
            details: #"{"sequence_set":"9","operation":"+X-GM-LABELS","flags":["\\Important","Work"]}"#),
        .init(line: "f6 COPY 2:4 MEETING", name: "COPY", details: #"{"sequence_set":"2:4","destination":"MEETING"}"#),
        .init(
            line: "f7 UID MOVE 42:69 foo", name: "MOVE", uid: true,
            details: #"{"sequence_set":"42:69","destination":"foo"}"#),
        .init(line: "f8 MOVE $ Trash", name: "MOVE", details: #"{"sequence_set":"$","destination":"Trash"}"#),
        .init(
            line: "f9 UID SORT (REVERSE ARRIVAL) UTF-8 ALL", name: "SORT", uid: true,
            details: #"{"sort_criteria":["REVERSE","ARRIVAL"],"charset":"UTF-8","criteria":"ALL"}"#),
        .init(
            line: "g1 THREAD REFERENCES UTF-8 SINCE 5-MAR-2000", name: "THREAD",
            details: #"{"algorithm":"REFERENCES","charset":"UTF-8","criteria":"SINCE 5-MAR-2000"}"#),
        .init(line: #"g2 SELECT "&ZeVnLIqe-""#, name: "SELECT", details: #"{"mailbox":"日本語"}"#),
        .init(line: "g3 XYZZY foo (bar) \"baz\"", name: "XYZZY", details: #"{"argument_count":3,"known":false}"#),
        .init(line: "g4 GETACL INBOX", name: "GETACL", details: #"{"mailbox":"INBOX"}"#),
        .init(
            line: "g5 SETACL INBOX bob lrs", name: "SETACL",
            details: #"{"mailbox":"INBOX","identifier":"bob","rights":"lrs"}"#),
    ]

    @Test("decodes", arguments: vectors)
    func decodes(_ v: CommandVector) throws {
        let cmd = try CommandParser.parse(Harness.line(v.line + "\r\n"))
        #expect(cmd.name.text == v.name)
        #expect(cmd.name.isKnown == cmd.isKnown, "the name enum and the grammar agree on what is known")
        #expect(cmd.uid == v.uid)
        #expect(JSONValue.object(cmd.details.fields).serialized == v.details)
        #expect(cmd.problems.isEmpty, "\(cmd.problems)")
    }

    /// Lines that break a command's grammar still decode, with the problem named.
    static let malformed: [(String, String)] = [
        ("a1 LOGIN alice", "LOGIN needs a user name and a password"),
        ("a2 FETCH x:y FLAGS", "'x:y' is not a sequence set"),
        ("a3 SELECT", "missing mailbox"),
        ("a4 STORE 1 FLOGS (\\Seen)", "unknown STORE operation FLOGS"),
        ("a5 STATUS INBOX (MESSAGES BOGUS)", "unknown STATUS item BOGUS"),
        ("a6 FETCH 1 (FLAGS", "unclosed '('"),
        ("a7 APPEND INBOX (\\Seen)", "APPEND needs the message as a literal"),
        ("a8 NOOP extra", "unexpected arguments after NOOP: extra"),
    ]

    @Test("names the problem in a malformed command", arguments: malformed)
    func malformedCommand(_ v: (String, String)) throws {
        let cmd = try CommandParser.parse(Harness.line(v.0 + "\r\n"))
        #expect(cmd.problems.contains(v.1), "\(cmd.problems)")
    }

    @Test(
        "rejects lines that are not commands", arguments: ["", "* OK hello", "+ ready", "a1", "(x) NOOP", "a{5} LOGIN"])
    func notCommands(_ line: String) {
        #expect(throws: CommandParser.Failure.self) { try CommandParser.parse(Harness.line(line + "\r\n")) }
    }

    @Test func appendWithLiterals() throws {
        var f = LineFramer(pausesAtSynchronizingLiterals: false)
        f.append(
            Array(
                "A003 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello ~{3+}\r\nab\u{0}\r\n"
                    .utf8))
        guard case .line(let l)? = f.nextFrame() else {
            Issue.record("no line")
            return
        }
        let cmd = try CommandParser.parse(l)
        #expect(
            JSONValue.object(cmd.details.fields).serialized
                == #"{"mailbox":"saved-messages","messages":[{"flags":["\\Seen"],"date":"17-Jul-1996 02:44:25 -0700","size":5},{"size":3,"binary":true}]}"#
        )
        #expect(cmd.literalLabels == [0: "message", 1: "message"])
    }
}
