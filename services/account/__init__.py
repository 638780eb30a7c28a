"""The user's own AWS account: least-privilege IAM, the CloudFormation stack, the pre-flight checks."""
