// lambshm with the AWS CDK (TypeScript): the layer on python3.12 (Amazon
// Linux 2023), an OS-only runtime (provided.al2023), and a container image.
// Paths are relative to the repository; build the release first
// (packaging/release: dist/).  Checked by tools/check-examples (tsc, then a
// synth).
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
}

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
      compatibleRuntimes: [lambda.Runtime.PYTHON_3_12, lambda.Runtime.PYTHON_3_13,
        lambda.Runtime.PROVIDED_AL2023],
    });

    // The managed Python runtime: the layer and its exec wrapper.
    new lambda.Function(this, "PythonFunction", {
      ...common,
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: "lambda_handler.handler",
      code: lambda.Code.fromAsset(path.join(props.top, "examples")),
      layers: [layer],
      environment: { AWS_LAMBDA_EXEC_WRAPPER: "/opt/bin/lambshm-exec-wrapper" },
    });

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
if (require.main === module) {
  const app = new App();
  new LambshmStack(app, "Lambshm", {
    top: path.resolve(__dirname, "..", "..", ".."),
    arm64: app.node.tryGetContext("arm64") === "true",
    bootstrapDir: app.node.tryGetContext("bootstrapDir"),
  });
  app.synth();
}
