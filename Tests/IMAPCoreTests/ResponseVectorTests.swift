import IMAPCore
import Testing

/// One server line → kind, response code and details JSON.
struct ResponseVector: CustomTestStringConvertible, Sendable {
    var line: String
    var kind: String
    var code: String? = nil
    var text: String? = nil
    var details: String = "{}"
    var testDescription: String { line }
}

@Suite("Response grammar")
struct ResponseVectorTests {
    static func kindText(_ k: Response.Kind) -> String {
        switch k {
        case .tagged(let t, let s): return "tagged \(t) \(s)"
        case .status(let s): return "status \(s)"
        case .data(let n, let num): return "data \(num.map { "\($0) " } ?? "")\(n)"
        case .continuation: return "continuation"
        }
    }

    static let vectors: [ResponseVector] = [
        // RFC 9051 §7.1 status responses and codes
        .init(line: "* OK IMAP4rev2 Service Ready", kind: "status OK", text: "IMAP4rev2 Service Ready"),
        .init(
            line: "* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE AUTH=PLAIN] Dovecot ready.",
            kind: "status OK", code: "CAPABILITY", text: "Dovecot ready."),
        .init(
            line: "* PREAUTH IMAP4rev2 server logged in as Smith", kind: "status PREAUTH",
            text: "IMAP4rev2 server logged in as Smith"),
        .init(line: "* BYE Autologout; idle for too long", kind: "status BYE", text: "Autologout; idle for too long"),
        .init(
            line: "* NO Disk is 98% full, please delete unnecessary data", kind: "status NO",
            text: "Disk is 98% full, please delete unnecessary data"),
        .init(line: "* BAD Command line too long", kind: "status BAD", text: "Command line too long"),
        .init(
            line: "* OK [ALERT] System shutdown in 10 minutes", kind: "status OK", code: "ALERT",
            text: "System shutdown in 10 minutes"),
        .init(
            line: "* OK [UIDVALIDITY 3857529045] UIDs valid", kind: "status OK", code: "UIDVALIDITY", text: "UIDs valid"
        ),
        .init(
            line: "* OK [UIDNEXT 4392] Predicted next UID", kind: "status OK", code: "UIDNEXT",
            text: "Predicted next UID"),
        .init(
            line: "* OK [HIGHESTMODSEQ 715194045007] Highest", kind: "status OK", code: "HIGHESTMODSEQ", text: "Highest"
        ),
        .init(
            line: #"* OK [PERMANENTFLAGS (\Deleted \Seen \*)] Limited"#, kind: "status OK", code: "PERMANENTFLAGS",
            text: "Limited"),
        .init(
            line: "* OK [CLOSED] Previous mailbox closed", kind: "status OK", code: "CLOSED",
            text: "Previous mailbox closed"),
        .init(
            line: "A142 OK [READ-WRITE] SELECT completed", kind: "tagged A142 OK", code: "READ-WRITE",
            text: "SELECT completed"),
        .init(
            line: "a1 NO [AUTHENTICATIONFAILED] Authentication failed.", kind: "tagged a1 NO",
            code: "AUTHENTICATIONFAILED", text: "Authentication failed."),
        .init(
            line: "A003 NO [TRYCREATE] Mailbox doesn't exist: Junk", kind: "tagged A003 NO", code: "TRYCREATE",
            text: "Mailbox doesn't exist: Junk"),
        .init(
            line: "A003 OK [APPENDUID 38505 3955] APPEND completed", kind: "tagged A003 OK", code: "APPENDUID",
            text: "APPEND completed"),
        .init(
            line: "A004 OK [COPYUID 38505 304,319:320 3956:3958] Done", kind: "tagged A004 OK", code: "COPYUID",
            text: "Done"),
        .init(
            line: "a5 BAD Error in IMAP command: Unknown command", kind: "tagged a5 BAD",
            text: "Error in IMAP command: Unknown command"),
        .init(line: "a6 OK", kind: "tagged a6 OK", text: ""),
        .init(line: "a7 NO [BADCHARSET (UTF-8)] charset", kind: "tagged a7 NO", code: "BADCHARSET", text: "charset"),
        // continuation requests
        .init(line: "+ Ready for literal data", kind: "continuation", text: "Ready for literal data"),
        .init(
            line: "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+", kind: "continuation",
            text: "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+"),
        .init(line: "+", kind: "continuation", text: ""),
        // §7.2–7.5 data
        .init(
            line: "* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED", kind: "data CAPABILITY",
            details: #"{"capabilities":["IMAP4rev2","STARTTLS","AUTH=GSSAPI","LOGINDISABLED"]}"#),
        .init(
            line: "* ENABLED CONDSTORE QRESYNC", kind: "data ENABLED",
            details: #"{"capabilities":["CONDSTORE","QRESYNC"]}"#),
        .init(
            line: #"* LIST (\Noselect) "/" ~/Mail/foo"#, kind: "data LIST",
            details: #"{"attributes":["\\Noselect"],"delimiter":"/","mailbox":"~/Mail/foo"}"#),
        .init(
            line: #"* LIST (\HasNoChildren \Sent) "." "Sent Items""#, kind: "data LIST",
            details: #"{"attributes":["\\HasNoChildren","\\Sent"],"delimiter":".","mailbox":"Sent Items"}"#),
        .init(
            line: #"* LIST (\Subscribed) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))"#, kind: "data LIST",
            details:
                #"{"attributes":["\\Subscribed"],"delimiter":"/","mailbox":"Foo","extended":["CHILDINFO","(SUBSCRIBED)"]}"#
        ),
        .init(
            line: #"* LIST () NIL inbox"#, kind: "data LIST",
            details: #"{"attributes":[],"delimiter":null,"mailbox":"INBOX"}"#),
        .init(
            line: #"* LSUB () "." #news.comp.mail.misc"#, kind: "data LSUB",
            details: ##"{"attributes":[],"delimiter":".","mailbox":"#news.comp.mail.misc"}"##),
        .init(
            line: "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)", kind: "data STATUS",
            details: #"{"mailbox":"blurdybloop","values":{"MESSAGES":231,"UIDNEXT":44292,"HIGHESTMODSEQ":7011231777}}"#),
        .init(line: "* SEARCH 2 3 6", kind: "data SEARCH", details: #"{"count":3,"numbers":[2,3,6]}"#),
        .init(
            line: "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)", kind: "data SEARCH",
            details: #"{"count":10,"numbers":[2,5,6,7,11,12,18,19,20,23],"modseq":917162500}"#),
        .init(line: "* SEARCH", kind: "data SEARCH", details: #"{"count":0,"numbers":[]}"#),
        .init(
            line: #"* ESEARCH (TAG "A282") UID MIN 2 COUNT 3 ALL 2,10:11"#, kind: "data ESEARCH",
            details: #"{"correlator":"A282","uid":true,"data":{"MIN":2,"COUNT":3,"ALL":"2,10:11"}}"#),
        .init(
            line: #"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)"#, kind: "data FLAGS",
            details: #"{"flags":["\\Answered","\\Flagged","\\Deleted","\\Seen","\\Draft"]}"#),
        .init(
            line: #"* NAMESPACE (("" "/")) (("~" "/")) NIL"#, kind: "data NAMESPACE",
            details:
                #"{"personal":[{"prefix":"","delimiter":"/"}],"other_users":[{"prefix":"~","delimiter":"/"}],"shared":null}"#
        ),
        .init(
            line: #"* ID ("name" "Dovecot" "version" NIL)"#, kind: "data ID",
            details: #"{"parameters":{"name":"Dovecot","version":null}}"#),
        .init(line: "* ID NIL", kind: "data ID"),
        .init(
            line: #"* QUOTA "" (STORAGE 10 512 MESSAGE 3 1000)"#, kind: "data QUOTA",
            details:
                #"{"quota_root":"","resources":[{"resource":"STORAGE","usage":10,"limit":512},{"resource":"MESSAGE","usage":3,"limit":1000}]}"#
        ),
        .init(line: #"* QUOTAROOT INBOX """#, kind: "data QUOTAROOT", details: #"{"mailbox":"INBOX","roots":[""]}"#),
        .init(
            line: #"* METADATA "INBOX" (/private/comment "My own comment")"#, kind: "data METADATA",
            details: #"{"mailbox":"INBOX","entries":{"/private/comment":"My own comment"}}"#),
        .init(
            line: "* METADATA INBOX /shared/comment", kind: "data METADATA",
            details: #"{"mailbox":"INBOX","changed":["/shared/comment"]}"#),
        .init(line: "* SORT 2 84 882", kind: "data SORT", details: #"{"count":3,"numbers":[2,84,882]}"#),
        .init(line: "* THREAD (2)(3 6 (4 23)(44 7 96))", kind: "data THREAD", details: #"{"threads":2}"#),
        .init(
            line: "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540", kind: "data VANISHED",
            details: #"{"earlier":true,"uids":"41,43:116,118,120:211,214:540","count":495}"#),
        .init(
            line: "* VANISHED 405,407,410,425", kind: "data VANISHED", details: #"{"uids":"405,407,410,425","count":4}"#
        ),
        .init(line: "* 23 EXISTS", kind: "data 23 EXISTS"),
        .init(line: "* 5 RECENT", kind: "data 5 RECENT"),
        .init(line: "* 44 EXPUNGE", kind: "data 44 EXPUNGE"),
        .init(
            line:
                #"* 12 FETCH (FLAGS (\Seen) UID 4827313 RFC822.SIZE 44827 INTERNALDATE "17-Jul-1996 02:44:25 -0700")"#,
            kind: "data 12 FETCH",
            details:
                #"{"attributes":{"FLAGS":["\\Seen"],"UID":4827313,"RFC822.SIZE":44827,"INTERNALDATE":"17-Jul-1996 02:44:25 -0700"}}"#
        ),
        .init(
            line: "* 4 FETCH (UID 8 MODSEQ (12121231000))", kind: "data 4 FETCH",
            details: #"{"attributes":{"UID":8,"MODSEQ":12121231000}}"#),
        .init(
            line: "* 3 FETCH (EMAILID (M6d99ac3275bb4e) THREADID (T64b478a75b7ea9))", kind: "data 3 FETCH",
            details: #"{"attributes":{"EMAILID":"M6d99ac3275bb4e","THREADID":"T64b478a75b7ea9"}}"#),
        .init(
            line:
                #"* 1 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 X-GM-LABELS (\Inbox \Sent Important "Muy Importante"))"#,
            kind: "data 1 FETCH",
            details:
                #"{"attributes":{"X-GM-THRID":1278455344230334865,"X-GM-MSGID":1278455344230334865,"X-GM-LABELS":["\\Inbox","\\Sent","Important","Muy Importante"]}}"#
        ),
        .init(
            line: "* 2 FETCH (BINARY.SIZE[1] 1024 BODY[1.MIME] NIL)", kind: "data 2 FETCH",
            details: #"{"attributes":{"BINARY.SIZE[1]":1024,"BODY[1.MIME]":null}}"#),
        .init(
            line:
                #"* 5 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) NIL NIL NIL "<B27397-0100000@cac.washington.edu>"))"#,
            kind: "data 5 FETCH",
            details:
                #"{"attributes":{"ENVELOPE":{"date":"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)","subject":"IMAP4rev2 WG mtg summary and minutes","from":["gray@cac.washington.edu"],"to":["imap@cac.washington.edu"],"message_id":"<B27397-0100000@cac.washington.edu>"}}}"#
        ),
        .init(
            line: "* XUNKNOWN 1 (2) \"three\"", kind: "data XUNKNOWN",
            details: #"{"arguments":["1","(2)","three"],"known":false}"#),
    ]

    @Test("decodes", arguments: vectors)
    func decodes(_ v: ResponseVector) throws {
        let r = try ResponseParser.parse(Harness.line(v.line + "\r\n"))
        #expect(Self.kindText(r.kind) == v.kind)
        #expect(r.code?.name == v.code)
        if let t = v.text { #expect(r.text == t) }
        #expect(JSONValue.object(r.details.fields).serialized == v.details)
        #expect(r.problems.isEmpty, "\(r.problems)")
    }

    @Test func fetchWithThreeLiterals() throws {
        let text = "* 7 FETCH (UID 9 BODY[HEADER] {11}\r\nSubject: x\n BODY[TEXT] {5}\r\nhello BODY[1] {0}\r\n)\r\n"
        let line = Harness.line(text)
        #expect(line.segments.count == 4)
        #expect(line.wireBytes == text.utf8.count)
        let r = try ResponseParser.parse(line, bodies: .none)
        #expect(
            JSONValue.object(r.details.fields).serialized
                == #"{"attributes":{"UID":9,"BODY[HEADER]":{"size":11,"sha256":"\#(sha("Subject: x\n"))"},"BODY[TEXT]":{"size":5,"sha256":"\#(sha("hello"))"},"BODY[1]":{"size":0,"sha256":"\#(sha(""))"}}}"#
        )
        #expect(r.literalLabels == [0: "header", 1: "text", 2: "part 1"])
    }

    func sha(_ s: String) -> String {
        var f = LineFramer(pausesAtSynchronizingLiterals: false)
        f.append(Array("x {\(s.utf8.count)}\r\n\(s)\r\n".utf8))
        guard case .line(let l)? = f.nextFrame() else { return "" }
        return l.segments[0].literal!.sha256
    }

    @Test("rejects lines that are not responses", arguments: ["", "*", "a1 FOO bar", "a1", "+tag OK"])
    func notResponses(_ line: String) {
        #expect(throws: ResponseParser.Failure.self) { try ResponseParser.parse(Harness.line(line + "\r\n")) }
    }
}
