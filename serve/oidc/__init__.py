"""Single sign-on with an OpenID Connect provider: its metadata (`discovery`), its signing keys (`keys`), the
validation of its JWTs (`tokens`) and the principal its claims make (`claims`); `authenticator` puts them
together for `serve.api.auth.current_caller`."""
