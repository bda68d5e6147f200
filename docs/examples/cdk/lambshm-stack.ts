// lambshm with the AWS CDK (TypeScript): the layer on python3.12 to 3.14
// (Amazon Linux 2023), the wheel in the function's own zip, an OS-only runtime
// (provided.al2023), and a container image.  Paths are relative to the
// repository; first make dist/ as docs/examples/sam/template.yaml's header
// says.  Checked by tools/check-examples (tsc, a synth in-process, and
// `cdk synth` with the CDK CLI).
import * as fs from "fs";
import * as path from "path";
import { App, Size, Stack, StackProps } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import { Construct } from "constructs";

export interface LambshmStackProps extends StackProps {
  /** The repository's top directory (dist/ and examples/ are under it). */
  readonly top: string;
  readonly version?: string;
  /** x86_64 or arm64 (Graviton). */
  readonly arm64?: boolean;
  /** A directory holding a provided.al2023 program named bootstrap, if any. */
  readonly bootstrapDir?: string;
  /** The Python runtime: 3.12 (default), 3.13 or 3.14. */
  readonly python?: "3.12" | "3.13" | "3.14";
  /** The function's code with the wheel in it (pip install --target DIR), if any. */
  readonly wheelFunctionDir?: string;
}

const PYTHON = {
  "3.12": lambda.Runtime.PYTHON_3_12, "3.13": lambda.Runtime.PYTHON_3_13,
  "3.14": new lambda.Runtime("python3.14", lambda.RuntimeFamily.PYTHON),
};

export class LambshmStack extends Stack {
  constructor(scope: Construct, id: string, props: LambshmStackProps) {
    super(scope, id, props);
    const version = props.version ?? "0.1.0";
    const architecture = props.arm64 ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;
    const zipArch = props.arm64 ? "aarch64" : "x86_64";
    const common = {
      architecture,
      memorySize: 1024,
      // /tmp holds the shared memory (the backing directory /tmp/shm):
      // see docs/lambda.md, "Sizing /tmp".
      ephemeralStorageSize: Size.mebibytes(1024),
    };

    const layer = new lambda.LayerVersion(this, "Lambshm", {
      layerVersionName: "lambshm",
      code: lambda.Code.fromAsset(
        path.join(props.top, "dist", `lambshm-${version}-lambda-layer-${zipArch}.zip`)),
      compatibleArchitectures: [architecture],
      compatibleRuntimes: [...Object.values(PYTHON), lambda.Runtime.PROVIDED_AL2023],
    });

    // The managed Python runtime: the layer and its exec wrapper.
    new lambda.Function(this, "PythonFunction", {
      ...common,
      runtime: PYTHON[props.python ?? "3.12"],
      handler: "lambda_handler.handler",
      code: lambda.Code.fromAsset(path.join(props.top, "examples")),
      layers: [layer],
      environment: { AWS_LAMBDA_EXEC_WRAPPER: "/opt/bin/lambshm-exec-wrapper" },
    });

    // No layer: the wheel in the function's own code, its wrapper under /var/task.
    if (props.wheelFunctionDir) {
      new lambda.Function(this, "WheelFunction", {
        ...common,
        runtime: PYTHON[props.python ?? "3.12"],
        handler: "lambda_handler.handler",
        code: lambda.Code.fromAsset(props.wheelFunctionDir),
        environment: { AWS_LAMBDA_EXEC_WRAPPER: "/var/task/lambshm/bin/lambshm-exec-wrapper" },
      });
    }

    // An OS-only runtime ignores AWS_LAMBDA_EXEC_WRAPPER: preload the library
    // in the function's environment.  (A Python interpreter you ship there
    // also needs PYTHONPATH=/opt/python/run for multiprocessing.Value/Array.)
    if (props.bootstrapDir) {
      new lambda.Function(this, "ProvidedFunction", {
        ...common,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        handler: "bootstrap",
        code: lambda.Code.fromAsset(props.bootstrapDir),
        layers: [layer],
        environment: { LD_PRELOAD: "/opt/lib/liblambshm-preload.so" },
      });
    }

    // A container image from packaging/docker/al2023/Dockerfile, built in dist/: the
    // release tarballs, your function and a copy of the Dockerfile
    // (cp packaging/docker/al2023/Dockerfile dist/).  One platform, so the pushed image
    // is not a manifest list.
    new lambda.DockerImageFunction(this, "ImageFunction", {
      ...common,
      code: lambda.DockerImageCode.fromImageAsset(path.join(props.top, "dist"), {
        file: "Dockerfile",
        buildArgs: { PYTHON: "3.12", LAMBSHM_VERSION: version },
        platform: props.arm64 ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      }),
    });
  }
}

// As an app: npx cdk deploy --app "npx ts-node lambshm-stack.ts" [-c arm64=true]
//   [-c python=3.13] [-c top=REPOSITORY] [-c bootstrapDir=DIR] [-c wheelFunctionDir=DIR]
// (bootstrapDir: examples/provided by default; wheelFunctionDir: dist/function if present).
if (require.main === module) {
  const app = new App();
  const top = app.node.tryGetContext("top") ?? path.resolve(__dirname, "..", "..", "..");
  const wheelDir = path.join(top, "dist", "function");
  new LambshmStack(app, "Lambshm", {
    top,
    arm64: app.node.tryGetContext("arm64") === "true",
    python: app.node.tryGetContext("python") ?? "3.12",
    bootstrapDir: app.node.tryGetContext("bootstrapDir") ?? path.join(top, "examples", "provided"),
    wheelFunctionDir: app.node.tryGetContext("wheelFunctionDir") ??
      (fs.existsSync(wheelDir) ? wheelDir : undefined),
  });
  app.synth();
}
