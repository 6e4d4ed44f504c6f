package chatops

import "github.com/macie-chatops/macie-chatops/shared/policy"

func approvers(users ...string) policy.Approvers {
	var ap policy.Approvers
	for _, u := range users {
		if u[0] == 'S' {
			ap.Groups = append(ap.Groups, u)
		} else {
			ap.Users = append(ap.Users, u)
		}
	}
	return ap
}
