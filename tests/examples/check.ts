// Checks the infrastructure snippets of docs/examples with the AWS CDK
// itself (TAP).  tools/check-examples compiles this file and the CDK stack
// with tsc (which type-checks the stack against aws-cdk-lib), then runs it:
//   - the CDK stack synthesizes for x86_64 and arm64, and the CloudFormation
//     it makes has the settings docs/lambda.md gives;
//   - the SAM template is read by the CDK's CloudFormation parser
//     (cloudformation-include) and synthesized with the CDK's template
//     validation on (@aws-cdk/core:validateAgainstDefaultRules: the SAM
//     transform's checks, Globals included): every resource type known,
//     every property one that type has, every value of its type (the L1
//     validators), and the same settings as the CDK stack;
//   - the check itself rejects templates with one mistake each.
// Usage: node check.js TOP SAM_TEMPLATE
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { CfnInclude } from "aws-cdk-lib/cloudformation-include";
import { LambshmStack } from "./lambshm-stack";

let count = 0;
let failed = 0;
function check(what: string, body: () => void): void {
  count++;
  try {
    body();
    console.log(`ok ${count} - ${what}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${count} - ${what}`);
    console.log(String(e instanceof Error ? e.message : e).split("\n").map((l) => `# ${l}`).join("\n"));
  }
}

const [top, samTemplate] = process.argv.slice(2);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lambshm-examples-"));

// A repository as a user has it after packaging/release: dist/ with the layer
// zips (empty: synth only stages them), the function and the Dockerfile.
const repo = path.join(tmp, "repo");
fs.mkdirSync(path.join(repo, "dist"), { recursive: true });
for (const arch of ["x86_64", "aarch64"]) {
  fs.writeFileSync(path.join(repo, "dist", `lambshm-0.1.0-lambda-layer-${arch}.zip`), "");
}
fs.copyFileSync(path.join(top, "packaging", "docker", "al2023", "Dockerfile"), path.join(repo, "dist", "Dockerfile"));
fs.symlinkSync(path.join(top, "examples"), path.join(repo, "examples"));
const bootstrapDir = path.join(tmp, "provided");
fs.mkdirSync(bootstrapDir);
fs.writeFileSync(path.join(bootstrapDir, "bootstrap"), "#!/bin/sh\n", { mode: 0o755 });

const wrapper = { AWS_LAMBDA_EXEC_WRAPPER: "/opt/bin/lambshm-exec-wrapper" };
const preload = { LD_PRELOAD: "/opt/lib/liblambshm-preload.so" };

for (const arm64 of [false, true]) {
  const arch = arm64 ? "arm64" : "x86_64";
  let template: Template | undefined;
  check(`CDK: the stack synthesizes (${arch})`, () => {
    const app = new App({ outdir: path.join(tmp, `cdk.out-${arch}`) });
    template = Template.fromStack(new LambshmStack(app, "Lambshm", { top: repo, arm64, bootstrapDir }));
  });
  if (!template) continue;
  const t = template;
  check(`CDK (${arch}): the layer, for ${arch}`, () => {
    t.hasResourceProperties("AWS::Lambda::LayerVersion", {
      CompatibleArchitectures: [arch], CompatibleRuntimes: Match.arrayWith(["python3.12", "provided.al2023"]),
    });
  });
  check(`CDK (${arch}): python3.12 with the layer and AWS_LAMBDA_EXEC_WRAPPER`, () => {
    t.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "python3.12", Architectures: [arch], Handler: "lambda_handler.handler",
      Layers: Match.anyValue(), Environment: { Variables: wrapper },
      EphemeralStorage: { Size: 1024 },
    });
  });
  check(`CDK (${arch}): provided.al2023 with the layer and LD_PRELOAD`, () => {
    t.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "provided.al2023", Architectures: [arch], Layers: Match.anyValue(),
      Environment: { Variables: preload },
    });
  });
  check(`CDK (${arch}): the image function, for ${arch}`, () => {
    t.hasResourceProperties("AWS::Lambda::Function", {
      PackageType: "Image", Architectures: [arch], Code: { ImageUri: Match.anyValue() },
    });
    const manifest = JSON.parse(fs.readFileSync(
      path.join(tmp, `cdk.out-${arch}`, "Lambshm.assets.json"), "utf8"));
    const images = Object.values(manifest.dockerImages ?? {}) as any[];
    const want = arm64 ? "linux/arm64" : "linux/amd64";
    if (images.length !== 1 || images[0].source.platform !== want ||
        images[0].source.dockerFile !== "Dockerfile" || images[0].source.dockerBuildArgs?.PYTHON !== "3.12") {
      throw new Error(`image asset: ${JSON.stringify(images.map((i) => i.source))}`);
    }
  });
}

// The SAM template through the CDK's CloudFormation parser.
function include(file: string): Template {
  const app = new App({
    outdir: fs.mkdtempSync(path.join(tmp, "sam-")),
    context: { "@aws-cdk/core:validateAgainstDefaultRules": true },
  });
  const stack = new Stack(app, "Sam");
  const included = new CfnInclude(stack, "Template", { templateFile: file });
  const doc = Template.fromStack(stack);
  for (const id of Object.keys(doc.toJSON().Resources ?? {})) {
    const overrides = (included.getResource(id) as any).rawOverrides;
    if (overrides && Object.keys(overrides).length) {
      throw new Error(`${id}: not a property of its type: ${JSON.stringify(overrides)}`);
    }
  }
  return doc;
}

let sam: Template | undefined;
check("SAM: the template parses; every resource type, property and value is valid", () => {
  sam = include(samTemplate);
});
if (sam) {
  const s = sam;
  check("SAM: a layer per architecture, and Globals with the ephemeral storage", () => {
    s.resourceCountIs("AWS::Serverless::LayerVersion", 2);
    const globals = s.toJSON().Globals?.Function;
    if (!globals || globals.EphemeralStorage?.Size !== 1024) throw new Error(JSON.stringify(globals));
  });
  const layers = [{ "Fn::If": ["IsArm64", { Ref: "LambshmLayerArm64" }, { Ref: "LambshmLayerX86" }] }];
  check("SAM: python3.12 to 3.14 with the layer and AWS_LAMBDA_EXEC_WRAPPER", () => {
    s.hasResourceProperties("AWS::Serverless::Function", {
      Runtime: { Ref: "PythonRuntime" }, Layers: layers, Environment: { Variables: wrapper },
      CodeUri: "../../../examples/",
    });
    const allowed = s.toJSON().Parameters?.PythonRuntime?.AllowedValues;
    if (JSON.stringify(allowed) !== JSON.stringify(["python3.12", "python3.13", "python3.14"])) {
      throw new Error(`PythonRuntime: ${JSON.stringify(allowed)}`);
    }
  });
  check("SAM: the wheel in the function's zip, its wrapper under /var/task, no layer", () => {
    s.hasResourceProperties("AWS::Serverless::Function", {
      Runtime: { Ref: "PythonRuntime" }, Layers: Match.absent(), CodeUri: "../../../dist/function/",
      Environment: { Variables: { AWS_LAMBDA_EXEC_WRAPPER: "/var/task/lambshm/bin/lambshm-exec-wrapper" } },
    });
  });
  check("SAM: provided.al2023 with the layer and LD_PRELOAD", () => {
    s.hasResourceProperties("AWS::Serverless::Function", {
      Runtime: "provided.al2023", Layers: layers, CodeUri: "../../../examples/provided/",
      Environment: { Variables: preload },
    });
  });
  check("SAM: the image function, built from a copy of packaging/docker/al2023/Dockerfile", () => {
    s.hasResource("AWS::Serverless::Function", {
      Properties: { PackageType: "Image" },
      Metadata: { Dockerfile: "Dockerfile", DockerBuildArgs: { PYTHON: "3.12" } },
    });
  });
}

// The check rejects what it should.
const original = fs.readFileSync(samTemplate, "utf8");
for (const [what, from, to] of [
  ["an unknown property", "      Handler: lambda_handler.handler",
    "      Handler: lambda_handler.handler\n      Timout: 60"],
  ["a missing handler", "      Handler: lambda_handler.handler", ""],
  ["a value of the wrong type", "      LayerName: lambshm", "      LayerName: [lambshm]"],
  ["an unknown resource type", "Type: AWS::Serverless::LayerVersion", "Type: AWS::Serverless::Layer"],
  ["a misspelt Globals property", "    MemorySize: 1024", "    MemorySise: 1024"],
]) {
  check(`SAM: the check rejects a template with ${what}`, () => {
    if (!original.includes(from)) throw new Error(`the template has no line '${from}'`);
    const bad = path.join(tmp, "bad.yaml");
    fs.writeFileSync(bad, original.replace(from, to));
    let rejected = false;
    // The CDK prints its validation report too: keep it out of the TAP output.
    const [error, warn] = [console.error, console.warn];
    console.error = console.warn = () => {};
    try {
      include(bad);
    } catch {
      rejected = true;
    } finally {
      [console.error, console.warn] = [error, warn];
    }
    if (!rejected) throw new Error("accepted");
  });
}

fs.rmSync(tmp, { recursive: true, force: true });
console.log(`1..${count}`);
process.exit(failed ? 1 : 0);
