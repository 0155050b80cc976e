#!/usr/bin/env python3
"""A GraphQL server for the agent's graphql check tests, on 127.0.0.1 only.

    graphql_server.py PORT

Serves POST /graphql (and /graphql-500, which answers the same with HTTP
500) with graphql-core's executor, so that the check meets a real
implementation's answers: `data`, `errors` with messages and locations,
400 for a query that does not parse. Works with graphql-core 3 (pip) and 2
(Debian 12's python3-graphql-core). Quiet: it prints nothing.
"""
import json
import logging
import sys
from http.server import HTTPServer, BaseHTTPRequestHandler

import graphql

SDL = """
schema { query: Query }
type Item { name: String, port: Int }
type Query {
  status: String
  echo(text: String!): String
  items: [Item]
  broken: String
}
"""


def _broken(_root, _info):
    raise Exception("the database is down")


RESOLVERS = {
    "status": lambda _root, _info: "ok",
    "echo": lambda _root, _info, text: text,
    "items": lambda _root, _info: [{"name": "web", "port": 8080}, {"name": "db", "port": 5432}],
    "broken": _broken,
}

if hasattr(graphql, "graphql_sync"):  # graphql-core 3
    SCHEMA = graphql.build_schema(SDL)
    for name, resolve in RESOLVERS.items():
        SCHEMA.query_type.fields[name].resolve = resolve

    def execute(query, variables):
        return graphql.graphql_sync(SCHEMA, query, variable_values=variables)
else:  # graphql-core 2
    SCHEMA = graphql.build_ast_schema(graphql.parse(SDL))
    for name, resolve in RESOLVERS.items():
        SCHEMA.get_query_type().fields[name].resolver = resolve

    def execute(query, variables):
        return graphql.graphql(SCHEMA, query, variables=variables)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args):
        pass

    def answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path not in ("/graphql", "/graphql-500"):
            self.answer(404, {"errors": [{"message": "not found"}]})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError:
            self.answer(400, {"errors": [{"message": "the body is not JSON"}]})
            return
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            self.answer(415, {"errors": [{"message": "expected application/json"}]})
            return
        result = execute(request.get("query", ""), request.get("variables"))
        document = {}
        if result.errors:
            document["errors"] = [{"message": getattr(e, "message", str(e))} for e in result.errors]
        if result.data is not None or not result.errors:
            document["data"] = result.data
        status = 400 if result.data is None and result.errors else 200
        self.answer(500 if self.path == "/graphql-500" else status, document)


def main():
    logging.disable(logging.CRITICAL)  # graphql-core 2 logs each resolver error
    server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
