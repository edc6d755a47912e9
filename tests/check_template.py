"""Checks template.yaml against what the code expects, beyond what cfn-lint can know:
the key schema and TTL attribute the store uses, least-privilege policies (only the DynamoDB
actions each function calls, on this table), the routes, and the settings Config reads.

Run by scripts/test.sh with the virtualenv that holds cfn-lint (its YAML decoder handles !Ref)."""

import pathlib
import re
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent
template, errors = decode(str(ROOT / "template.yaml"))
assert not errors, errors
resources = template["Resources"]
checks = 0


def check(condition, message):
    global checks
    if not condition:
        sys.exit(f"template.yaml: {message}")
    checks += 1


table = resources["PlaybackTable"]["Properties"]
check(table["BillingMode"] == "PAY_PER_REQUEST", "table must be on-demand")
check([(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == [("pk", "HASH"), ("sk", "RANGE")],
      "key schema must be pk (account_id#profile_id) HASH, sk (video_id) RANGE")
check(table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True},
      "TTL must be enabled on expires_at")
check(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, "PITR must be on")
check(resources["PlaybackTable"].get("DeletionPolicy") == "Retain", "the table must survive stack deletion")

# The attribute names the store writes must be the ones the template declares.
store_source = (ROOT / "shared/src/store/dynamo.rs").read_text()
for name in ("pk", "sk", "expires_at"):
    check(re.search(rf'const \w+: &str = "{name}";', store_source), f"store does not use attribute {name}")

globals_fn = template["Globals"]["Function"]
check(globals_fn["Runtime"] == "provided.al2023", "runtime must be provided.al2023")
check(globals_fn["Architectures"] == ["arm64"], "functions must be arm64")

config_source = (ROOT / "shared/src/config.rs").read_text()
read_by_config = set(re.findall(r'"(PLAYBACK_[A-Z_]+)"', config_source))
declared = set(globals_fn["Environment"]["Variables"])
check(read_by_config <= declared, f"settings read by Config but not set: {read_by_config - declared}")
check({v for v in declared if v.startswith("PLAYBACK_")} <= read_by_config,
      f"settings set but never read: {declared - read_by_config}")

expected = {
    "UpdateFunction": (
        "update",
        {("POST", "/playback/update"), ("POST", "/playback/remove"), ("POST", "/playback/unwatch")},
        ["dynamodb:UpdateItem"],
    ),
    "ResumeFunction": (
        "resume",
        {("GET", "/playback/resume"), ("POST", "/playback/resume/batch")},
        ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
    ),
}
# The routes the code serves (shared/src/http/parse.rs) must be the routes the template declares.
parse_source = (ROOT / "shared/src/http/parse.rs").read_text()
code_paths = set(re.findall(r'=> "(/playback/[a-z/]+)"', parse_source))
template_paths = {path for _, routes, _ in expected.values() for _, path in routes}
check(code_paths == template_paths, f"routes in code {code_paths} != routes checked {template_paths}")
for logical_id, (binary, routes, actions) in expected.items():
    fn = resources[logical_id]
    check(fn["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}},
          f"{logical_id} must be built by cargo-lambda as binary {binary}")
    check((ROOT / f"functions/{binary}/src/main.rs").exists(), f"no binary {binary}")
    events = list(fn["Properties"]["Events"].values())
    check(all(e["Type"] == "HttpApi" for e in events), f"{logical_id} routes must be HttpApi events")
    served = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events}
    check(served == routes, f"{logical_id} must serve exactly {sorted(routes)}, not {sorted(served)}")
    statements = [s for p in fn["Properties"]["Policies"] for s in p["Statement"]]
    check(len(statements) == 1, f"{logical_id} must have exactly one policy statement")
    check(statements[0]["Effect"] == "Allow" and statements[0]["Action"] == actions,
          f"{logical_id} may only be allowed {actions}")
    check(statements[0]["Resource"] == {"Fn::GetAtt": ["PlaybackTable", "Arn"]},
          f"{logical_id} policy must name only the playback table")

# Identity: every route behind the JWT authorizer, configured by parameters; never local-dev mode.
api = resources["PlaybackApi"]["Properties"]
auth = api["Auth"]
authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
check(authorizer["IdentitySource"] == "$request.header.Authorization", "tokens come from Authorization")
check(authorizer["JwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": {"Ref": "JwtAudience"}},
      "the JWT issuer and audience must be parameters")
for logical_id in expected:
    for name, event in resources[logical_id]["Properties"]["Events"].items():
        check("Auth" not in event["Properties"], f"{logical_id}.{name} must not override the JWT authorizer")
env = globals_fn["Environment"]["Variables"]
check(env.get("PLAYBACK_AUTH_MODE") == "jwt", "deployed functions must require the JWT (PLAYBACK_AUTH_MODE=jwt)")
check(env.get("PLAYBACK_ACCOUNT_CLAIM") == {"Ref": "AccountClaim"}, "the account claim must be a parameter")
check(api["DefaultRouteSettings"] == {"ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
                                      "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"}},
      "throttling must be set by parameters")
cors = api["CorsConfiguration"]
check(cors["AllowOrigins"] == {"Ref": "CorsAllowOrigins"} and "*" not in str(template["Parameters"]["CorsAllowOrigins"]),
      "CORS origins must be a parameter without a wildcard default")
check(sorted(cors["AllowMethods"]) == ["GET", "POST"], "CORS allows only the API's methods")

# The read cache is optional: created, and the functions put in the VPC, only when subnets are given.
check(template["Conditions"]["CacheEnabled"] == {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "CacheSubnetIds"}]}, ""]}]},
      "the cache must be enabled by giving subnets")
check(template["Parameters"]["CacheSubnetIds"]["Default"] == "", "no cache by default")
cache = resources["PlaybackCache"]
check(cache["Condition"] == "CacheEnabled" and cache["Properties"]["Engine"] in ("valkey", "redis"),
      "the cache must be a conditional Valkey/Redis ElastiCache")
url = env["PLAYBACK_CACHE_URL"]["Fn::If"]
check(url[0] == "CacheEnabled" and url[2] == "" and url[1]["Fn::Sub"].startswith("rediss://"),
      "the cache URL must be TLS when enabled and empty otherwise")
for logical_id in expected:
    vpc = resources[logical_id]["Properties"]["VpcConfig"]["Fn::If"]
    check(vpc[0] == "CacheEnabled" and vpc[2] == {"Ref": "AWS::NoValue"},
          f"{logical_id} joins the VPC only with the cache")

# `cargo lambda watch` (the local run) must route the same paths to the same functions.
import tomllib

router = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
local = {(r["method"], path, r["function"]) for path, rules in router.items() for r in rules}
deployed = {(m, p, binary) for binary, routes, _ in expected.values() for m, p in routes}
check(local == deployed, f"watch router {sorted(local)} != template routes {sorted(deployed)}")

print(f"template.yaml: {checks} checks passed")
