from communityhub.main import run

run()
