"""The real drain ASL on the emulator, substitutions resolved from the deployed template: a
package, so that its modules share one deployment (the package-scoped ``stack``)."""
