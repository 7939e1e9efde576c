"""Weight-cache test helpers: a real S3 endpoint (moto), model folders, a proxy."""
