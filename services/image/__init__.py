"""Stage 2: the training image: build it (offline base, context tag), push it to ECR, pin it by digest."""
