"""Lesson 04's predict-then-run questions."""

from . import Option, Question

QUESTIONS = [
    Question(
        id="04.leak_exit",
        prompt="Two small scripts each open an aiosqlite connection and run a query. One closes its connection, "
               "the other forgets to (a global still refers to it). Both reach their last line. Which exit?",
        options=(
            Option("both: a script ends when its last line has run",
                   why="Python waits for every non-daemon thread before the process exits, and the "
                       "connection's worker thread ends only when the connection is closed."),
            Option("only the one that closed its connection", correct=True),
            Option("neither: aiosqlite keeps the process alive until it exits by itself",
                   why="`close()` stops the connection's worker thread, so the script that closed it can exit."),
        ),
        explain="An open connection is a live thread: open it in the lifespan, close it there.",
    ),
    Question(
        id="04.injection",
        prompt="Through the f-string version, ada renames her note 1 to `pwned' --`. The code runs "
               "`f\"UPDATE notes SET title = '{title}' WHERE id = {note_id}\"`. What happens?",
        options=(
            Option("note 1 gets the odd title `pwned' --`",
                   why="the f-string pastes the text into the SQL: its quote ends the string literal, and `--` "
                       "turns the rest, `' WHERE id = 1`, into a comment."),
            Option("every note is renamed `pwned`", correct=True),
            Option("SQLite refuses the statement with a syntax error",
                   why="the pasted statement is valid SQL: `UPDATE notes SET title = 'pwned' --' WHERE id = 1` "
                       "is an UPDATE of every row followed by a comment."),
        ),
        explain="Whoever controls a value pasted into SQL controls the statement.",
    ),
    Question(
        id="04.shared_transaction",
        prompt="Request A says `BEGIN` on the app's one shared connection, inserts a row, and awaits something. "
               "Meanwhile request B inserts its own row (no `BEGIN`) on the same connection. Then A fails and "
               "rolls back. Is B's row in the table?",
        options=(
            Option("yes: B's statement committed on its own",
                   why="a transaction belongs to the connection, not to the coroutine: B's insert ran inside "
                       "the transaction A had opened on that connection."),
            Option("no: A's rollback took B's row with it", correct=True),
            Option("B's insert fails: A's transaction locks the connection",
                   why="a connection does not lock against itself; B's statement simply joins the "
                       "transaction that is open on it."),
        ),
        explain="On one shared connection, transactions must take turns: that is what the lock is for.",
    ),
    Question(
        id="04.status_codes",
        prompt="The stage-4 app receives `POST /shelf` with the body `{\"book_id\": \"seven\"}`. What does the "
               "client get?",
        options=(
            Option("500: the database rejects the value",
                   why="the value never reaches the database: FastAPI checks the body against the model "
                       "before your code runs."),
            Option("422, naming the field and what is wrong with it", correct=True),
            Option("404: there is no book \"seven\"",
                   why="\"seven\" is not even an integer, so validation fails before any lookup."),
        ),
        explain="Bad input is refused with a 4xx before it can reach SQL.",
    ),
    Question(
        id="04.rollback_costs",
        prompt="In rollback-journal mode (SQLite's default), reader 1 is in the middle of a 0.3 s read when a "
               "writer commits; reader 2 starts a quick SELECT just after the commit began. What waits?",
        options=(
            Option("nothing: SQLite readers and writers never wait for each other",
                   why="that is WAL mode. In rollback mode a commit needs the file to itself, so it waits "
                       "for the readers that are still reading, and holds new ones back meanwhile."),
            Option("the COMMIT waits for reader 1 to finish, and reader 2 waits for the COMMIT", correct=True),
            Option("the COMMIT goes through at once and reader 1's read fails",
                   why="SQLite never interrupts a reader; the writer is the one that waits (up to its busy "
                       "timeout)."),
        ),
        explain="In rollback mode a slow read delays every commit, and a commit delays every new read.",
    ),
    Question(
        id="04.query_share",
        prompt="Each request of the benchmark ran one title search over the seeded catalogue. What share of a "
               "request's time did the query itself take?",
        options=(
            Option("most of it: the database is the slow part of a request",
                   why="a query on a small, cached SQLite table is a few dozen microseconds of CPU; the HTTP "
                       "parsing, routing and JSON around it cost more."),
            Option("a small share: HTTP, the framework and JSON cost more than the query", correct=True),
            Option("none: the query runs in another thread, so the request does not pay for it",
                   why="the request still waits for the query's result; another thread does not make the "
                       "work disappear."),
        ),
        explain="When the query is not what a request waits for, an async driver has little to win.",
    ),
]
